#!/bin/bash
# Two independent libvirt "hosts" on one machine, for the real live
# migration test (bidder/tests/migration_live.rs) and for trying it by hand.
# Each host is a network namespace plus a private mount namespace with its
# own libvirtd, configuration, state and host UUID; they reach each other
# over a veth pair (A 10.77.0.1, B 10.77.0.2). B has only 48 MiB for
# file-backed guest memory (a tmpfs), so that a migration can be refused
# for lack of memory at the destination. Guests are QEMU in software
# emulation (TCG), so no /dev/kvm is needed. Needs root.
#
# Usage:  two-libvirt-hosts.sh up      start both hosts (stops leftovers first);
#                                      exit 2: not root or a tool is missing,
#                                      exit 3: network namespaces impossible here
#         two-libvirt-hosts.sh down    stop their guests and daemons, delete the namespaces
#         two-libvirt-hosts.sh env     print the URIs (shell assignments)
#         two-libvirt-hosts.sh throttle RATE|off
#                                      shape A's side of the link (tc tbf, e.g. 256kbit):
#                                      a migration then takes long enough to time out
#
# After `up`, from the root namespace:
#   host A: qemu+unix:///system?socket=$BASE/A/run/libvirt-sock
#   host B: qemu+unix:///system?socket=$BASE/B/run/libvirt-sock
#   A's libvirtd reaches B's (peer-to-peer migration) at qemu+tcp://10.77.0.2/system
#
# Adapted from ../shared/recipes/two-libvirt-hosts.sh (tried on these
# machines); packages come from scripts/install-deps.sh.
set -euo pipefail

BASE=${BASE:-/tmp/bourse-two-hosts}
NS_A=bourseA; IP_A=10.77.0.1; UUID_A=11111111-1111-4111-8111-111111111111
NS_B=bourseB; IP_B=10.77.0.2; UUID_B=22222222-2222-4222-8222-222222222222
URI_A="qemu+unix:///system?socket=$BASE/A/run/libvirt-sock"
URI_B="qemu+unix:///system?socket=$BASE/B/run/libvirt-sock"
P2P_URI_B="qemu+tcp://$IP_B/system"

log() { echo "[two-libvirt-hosts $(date +%T)] $*" >&2; }

print_env() {
    echo "URI_A='$URI_A'"
    echo "URI_B='$URI_B'"
    echo "P2P_URI_B='$P2P_URI_B'"
}

stop_host() {   # $1 = A|B: its guests (QEMU pid files), then its libvirtd
    local H=$1 pid f
    for f in "$BASE/$H"/run/qemu/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = qemu-system-x86 ]; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    if [ -f "$BASE/$H/run/libvirtd.pid" ]; then
        pid=$(cat "$BASE/$H/run/libvirtd.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = libvirtd ] && kill "$pid" 2>/dev/null; then
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
}

down() {
    stop_host A
    stop_host B
    umount "$BASE/B/ram" 2>/dev/null || true
    ip netns del $NS_A 2>/dev/null || true
    ip netns del $NS_B 2>/dev/null || true
}

write_config() {   # $1 = A|B
    local H=$1 IP UUID D
    if [ "$H" = A ]; then IP=$IP_A; UUID=$UUID_A; else IP=$IP_B; UUID=$UUID_B; fi
    D=$BASE/$H
    # keep cache/ (QEMU capability probes, ~4 s of TCG per host) between runs
    find "$D" -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} + 2>/dev/null || true
    mkdir -p "$D"/{etc,run,lib,cache,log}
    printf '127.0.0.1 localhost\n%s hostA\n%s hostB\n' $IP_A $IP_B >"$D/hosts"
    cp /etc/libvirt/libvirt.conf /etc/libvirt/libvirt-admin.conf "$D/etc/" 2>/dev/null || true
    cat >"$D/etc/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 1
listen_addr = "$IP"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0770"
host_uuid = "$UUID"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
    cat >"$D/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_address = "$IP"
migration_host = "$IP"
memory_backing_dir = "$D/ram"
CONF
    # File-backed guest memory goes to ram/; B's is a 48 MiB tmpfs, so B
    # lacks the memory for a file-backed guest larger than that: QEMU fails
    # to preallocate it and libvirt refuses the migration.
    mkdir -p "$D/ram"
    if [ "$H" = B ]; then mount -t tmpfs -o size=48m bourse-ram-b "$D/ram"; fi
}

start_host() {   # $1 = A|B
    local H=$1 NS D URI
    if [ "$H" = A ]; then NS=$NS_A; URI=$URI_A; else NS=$NS_B; URI=$URI_B; fi
    D=$BASE/$H
    # A privileged libvirtd hard-codes /etc/libvirt, /run/libvirt, ...: bind
    # this host's copies over them inside its own mount namespace (`ip netns
    # exec` gives a fresh one); its pid file must not be the shared default.
    setsid ip netns exec $NS unshare --uts sh -c "
        mount --bind $D/etc   /etc/libvirt
        mount --bind $D/run   /run/libvirt
        mount --bind $D/lib   /var/lib/libvirt
        mount --bind $D/cache /var/cache/libvirt
        mount --bind $D/log   /var/log/libvirt
        mount --bind $D/hosts /etc/hosts
        hostname host$H
        exec libvirtd --listen --pid-file /run/libvirt/libvirtd.pid
    " </dev/null >"$D/daemon.out" 2>&1 &
    for i in $(seq 300); do
        virsh -q -c "$URI" version >/dev/null 2>&1 && return 0
        if [ "$i" = 300 ]; then
            log "libvirtd of host $H did not come up"
            cat "$D/daemon.out" "$D/log/libvirtd.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}

up() {
    if [ "$(id -u)" -ne 0 ]; then log "needs root"; exit 2; fi
    for tool in libvirtd virsh qemu-system-x86_64 ip unshare; do
        command -v $tool >/dev/null || { log "$tool is missing: run scripts/install-deps.sh"; exit 2; }
    done
    # The privileged QEMU driver resolves its compiled-in user/group
    # (Debian: libvirt-qemu) before reading qemu.conf, so they must exist.
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
    down
    mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
    write_config A
    write_config B
    if ! ip netns add $NS_A; then
        log "cannot create network namespaces here (a container without CAP_SYS_ADMIN?)"
        exit 3
    fi
    ip netns add $NS_B
    ip link add bourse0 type veth peer name bourse1
    ip link set bourse0 netns $NS_A
    ip link set bourse1 netns $NS_B
    ip -n $NS_A addr add $IP_A/24 dev bourse0; ip -n $NS_A link set bourse0 up; ip -n $NS_A link set lo up
    ip -n $NS_B addr add $IP_B/24 dev bourse1; ip -n $NS_B link set bourse1 up; ip -n $NS_B link set lo up
    start_host A
    # B can reuse A's QEMU capability cache (same binaries, same kernel).
    if [ -z "$(ls -A "$BASE/B/cache" 2>/dev/null)" ]; then cp -a "$BASE/A/cache/." "$BASE/B/cache/"; fi
    start_host B
    log "hosts up: A $(virsh -c "$URI_A" hostname), B $(virsh -c "$URI_B" hostname)"
    print_env
}

throttle() {   # $1 = a tc rate (256kbit) or off
    ip netns exec $NS_A tc qdisc del dev bourse0 root 2>/dev/null || true
    if [ "${1:-off}" != off ]; then
        ip netns exec $NS_A tc qdisc add dev bourse0 root tbf rate "$1" burst 16kb latency 400ms
    fi
}

case "${1:-}" in
    up) up ;;
    throttle) throttle "${2:-off}" ;;
    down) down ;;
    env) print_env ;;
    *) echo "usage: $0 up|down|env|throttle RATE|off" >&2; exit 2 ;;
esac
