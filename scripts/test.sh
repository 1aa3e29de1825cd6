#!/usr/bin/env bash
# The whole test suite of bourse, from a fresh Debian machine:
# installs the system packages, checks formatting and lints, runs every test,
# then builds the Debian package, installs it and checks it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked -- --skip short_chaos_campaigns
echo "== short chaos campaigns: a fixed seed, then a new one (printed)"
cargo test --locked --test chaos -- --nocapture
echo "== the Debian package"
deb=$(bash scripts/package.sh)
bash scripts/test-package.sh "$deb"
