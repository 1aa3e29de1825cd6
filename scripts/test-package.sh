#!/usr/bin/env bash
# Installs the Debian package built by scripts/package.sh on this machine
# and checks it as an operator would meet it:
#   - dpkg -i installs it; the binaries, unit, configuration (a conffile),
#     man pages, completions, models and policies are where they belong;
#   - the bidder's user exists and owns its state directory;
#   - `bidder --check` passes on the default configuration pointed at
#     libvirt's test:///default, run as the daemon's user, and fails naming
#     the key on a broken copy;
#   - systemd-analyze verify accepts the unit;
#   - every man page renders with `man -l` without a warning;
#   - the bash completions load;
#   - dpkg --purge removes it again.
# Needs root (dpkg). Usage: scripts/test-package.sh PACKAGE.deb
set -uo pipefail
deb="${1:?usage: $0 PACKAGE.deb}"

passed=0
failed=0
check() {
    local what="$1"
    shift
    local output
    if output=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what"
        echo "$output" | sed 's/^/    /'
    fi
}

dpkg --purge bourse >/dev/null 2>&1 || true
check "dpkg -i installs the package" dpkg -i "$deb"

for file in /usr/bin/bidder /usr/bin/market \
    /usr/lib/systemd/system/bourse-bidder.service \
    /etc/bourse/bidder.toml /etc/bourse/policy.toml \
    /usr/share/man/man8/bidder.8.gz /usr/share/man/man1/market.1.gz \
    /usr/share/man/man1/market-simulate.1.gz /usr/share/man/man1/market-protocol-check.1.gz \
    /usr/share/bash-completion/completions/market /usr/share/bash-completion/completions/bidder \
    /usr/share/zsh/vendor-completions/_market /usr/share/fish/vendor_completions.d/bidder.fish \
    /usr/share/bourse/models/contract-net.lcc /usr/share/bourse/policies/seed001-power-saving.toml \
    /usr/share/bourse/grafana/bourse-bidders.json /usr/share/bourse/prometheus/prometheus.yml \
    /usr/share/doc/bourse/operations.md; do
    check "installed: $file" test -e "$file"
done
check "/etc/bourse/bidder.toml is a conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}' bourse | grep -q '/etc/bourse/bidder.toml'"
check "the bidder's user exists" getent passwd bourse
check "it owns /var/lib/bourse" sh -c '[ "$(stat -c %U /var/lib/bourse)" = bourse ]'
if getent group libvirt >/dev/null; then
    check "it is in the libvirt group" sh -c 'id -nG bourse | grep -qw libvirt'
fi

# The default configuration, pointed at libvirt's test driver, read as the
# daemon's user would read it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chgrp bourse "$work"
chmod 0750 "$work"
sed 's|^hypervisor = .*|hypervisor = "test:///default"|' /etc/bourse/bidder.toml > "$work/bidder.toml"
chgrp bourse "$work/bidder.toml"
chmod 0640 "$work/bidder.toml"
check "bidder --check passes on the default configuration (test:///default), as user bourse" \
    runuser -u bourse -- /usr/bin/bidder --check --config "$work/bidder.toml"
sed 's|^period_ms = .*|period_ms = 0|' "$work/bidder.toml" > "$work/broken.toml"
chgrp bourse "$work/broken.toml"
check "bidder --check fails naming trading.period_ms on a broken copy" \
    sh -c "! /usr/bin/bidder --check --config '$work/broken.toml' 2>'$work/err' && grep -q 'trading.period_ms: must be above 0' '$work/err'"
check "bidder --check created no ledger" test ! -e /var/lib/bourse/ledger.sqlite

check "systemd-analyze verify accepts the unit" \
    systemd-analyze verify /usr/lib/systemd/system/bourse-bidder.service

for page in /usr/share/man/man8/bidder.8.gz /usr/share/man/man1/market*.1.gz; do
    check "man -l renders $(basename "$page") without warnings" \
        sh -c "out=\$(MANWIDTH=80 man --warnings -l '$page' 2>&1 >/dev/null); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
done
check "man -l shows bidder's --check" \
    sh -c "MANWIDTH=80 man -l /usr/share/man/man8/bidder.8.gz 2>/dev/null | grep -q -- '--check'"

for binary in market bidder; do
    check "the bash completion of $binary loads" \
        bash -c "source /usr/share/bash-completion/completions/$binary && complete -p $binary"
done

check "dpkg --purge removes the package" dpkg --purge bourse
check "the binaries are gone" test ! -e /usr/bin/bidder

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
