#!/usr/bin/env bash
# Builds the Debian package of bourse (bidder, market, the systemd unit, the
# default configuration, man pages, completions, models, policies, the
# Prometheus and Grafana files) into target/debian/. Prints the package's
# path on its last line.
#
# The package is made by cargo-deb from [package.metadata.deb] in
# Cargo.toml; the man pages and completions are generated from the release
# binaries first, so they describe exactly what is packed.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$cargo_deb_version"; then
    echo "installing cargo-deb $cargo_deb_version" >&2
    cargo install cargo-deb --locked --version "$cargo_deb_version" >&2
fi

cargo build --release --locked --bin bidder --bin market >&2
release="${CARGO_TARGET_DIR:-target}/release"
rm -rf "$release/man" "$release/completions"
mkdir -p "$release/man" "$release/completions"/{bash,zsh,fish}
"$release/market" man --out "$release/man" >&2
"$release/bidder" --man > "$release/man/bidder.8"
# Debian installs man pages compressed; -n keeps the package reproducible.
gzip -9nf "$release"/man/*.[18]
for shell in bash zsh fish; do
    case $shell in
        bash) name() { echo "$1"; } ;;
        zsh) name() { echo "_$1"; } ;;
        fish) name() { echo "$1.fish"; } ;;
    esac
    "$release/market" completions "$shell" > "$release/completions/$shell/$(name market)"
    "$release/bidder" --completions "$shell" > "$release/completions/$shell/$(name bidder)"
done

# Stripped, as Debian ships binaries (the line tables of the release
# profile are for the developers' backtraces and would triple the size).
cargo deb --no-build --locked --strip >&2
ls -t "${CARGO_TARGET_DIR:-target}"/debian/bourse_*.deb | head -1
