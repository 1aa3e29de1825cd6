#!/usr/bin/env bash
# Installs the Debian packages bourse needs to build and test:
#   libvirt-dev, pkg-config     build the `virt` crate
#   libvirt-daemon(+qemu), libvirt-clients, qemu-system-x86
#                               the libvirt test driver, virsh, real QEMU migrations
#   nats-server                 the real bus the NATS tests start on loopback
#   iproute2                    network namespaces for the two-host migration test
#   dpkg-dev, liblzma-dev       build the Debian package (cargo-deb: dpkg-shlibdeps, xz)
#   adduser, systemd, man-db    install and check it (its user, systemd-analyze, man -l)
# Idempotent: does nothing when everything is present.
set -euo pipefail

packages=(pkg-config libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu
          libvirt-clients qemu-system-x86 nats-server iproute2
          dpkg-dev liblzma-dev adduser systemd man-db)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo=sudo; else
        echo "error: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
    fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
