#!/bin/bash
# Install everything needed to fetch, build and test the QEMU patch series
# on Debian 12 (bookworm).  Idempotent: quiet and fast when all is present.
set -euo pipefail

# meson >= 1.5 and python3-pycotap come from bookworm-backports, and so
# does seabios 1.16.3: with bookworm's 1.16.2, QEMU 10.2's q35 AHCI makes
# SeaBIOS wait for a command timeout, 32 s per boot from disk (every
# migration-test guest).
BACKPORTS_PKGS="meson python3-pycotap seabios"
PKGS="build-essential ninja-build pkg-config git ccache dpkg-dev xz-utils
      python3 python3-venv python3-setuptools flex bison
      libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev zlib1g-dev
      ipxe-qemu qemu-system-data
      busybox-static cpio linux-image-cloud-amd64 linux-image-amd64
      iproute2 socat
      ethtool python3-matplotlib clang-14 libclang-rt-14-dev"

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed$' || echo "$p"
    done
}

meson_ok() {
    command -v meson >/dev/null 2>&1 &&
        dpkg --compare-versions "$(meson --version 2>/dev/null || echo 0)" ge 1.5
}

# VDUSE and vhost-vdpa for the nested guest (l1-run.sh L1_KERNEL=newest):
# bookworm-backports' kernel, whose VDUSE takes network devices.  Its
# versioned package, not the metapackage: linux-image-amd64 stays
# bookworm's, and so does the nested guest's default kernel.
vdpa_kernel_ok() {
    ls /lib/modules/*-amd64/kernel/drivers/vdpa/vdpa_user/vduse.ko* \
        >/dev/null 2>&1
}

vdpa_kernel_pkg() {
    local v
    v=$(apt-cache madison linux-image-amd64 |
        awk -F'|' '/bookworm-backports/ { gsub(/ /, "", $2); print $2; exit }')
    [ -n "$v" ] && apt-cache depends "linux-image-amd64=$v" |
        awk '/Depends: linux-image-/ { print $2; exit }'
}

seabios_ok() {
    dpkg --compare-versions \
        "$(dpkg-query -W -f='${Version}' seabios 2>/dev/null || echo 0)" ge 1.16.3
}

# shellcheck disable=SC2086
need=$(missing $PKGS $BACKPORTS_PKGS)
if [ -z "$need" ] && meson_ok && seabios_ok && vdpa_kernel_ok; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install:" $need >&2
    exit 1
fi

bp=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > "$bp" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing:" $need
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $(missing $PKGS) >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    $BACKPORTS_PKGS >/dev/null
if ! vdpa_kernel_ok; then
    kpkg=$(vdpa_kernel_pkg) ||
        { echo "install-deps: no bookworm-backports kernel" >&2; exit 1; }
    echo "install-deps: installing $kpkg (VDUSE for the nested guest)"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports \
        "$kpkg" >/dev/null
fi
meson_ok || { echo "install-deps: meson >= 1.5 not available" >&2; exit 1; }
seabios_ok || { echo "install-deps: seabios >= 1.16.3 not available" >&2; exit 1; }
echo "install-deps: done"
