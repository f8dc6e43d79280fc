#!/bin/bash
# Configure (once) and build one QEMU source tree in SRC/build.
#
# Usage: build-qemu.sh SRC [ninja targets...]
# QEMU_BUILD_DIR (default "build") names the build directory inside SRC,
# QEMU_CONFIGURE_EXTRA adds configure options (e.g. --enable-sanitizers),
# QEMU_CC picks the compiler (default cc; the fuzz build needs clang).
#
# KVM is left out: /dev/kvm on these machines initialises but cannot run
# guests, and qtests prefer KVM whenever it is built in; TCG and the qtest
# accelerator run everything here.
# The patched and the baseline tree share ccache: paths are made relative
# to the common parent so identical sources hit the same cache entries.
set -euo pipefail

SRC=$(cd "${1:?usage: build-qemu.sh SRC [targets]}" && pwd)
shift
BDIR=$SRC/${QEMU_BUILD_DIR:-build}
TOP=$(cd "$SRC/.." && pwd)

# Firmware comes from Debian's seabios, ipxe-qemu and qemu-system-data: the
# +ds source carries no blobs.
FIRMWARE="/usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu"

export CCACHE_BASEDIR="$TOP"
export CCACHE_NOHASHDIR=1
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

CC=${QEMU_CC:-cc}
command -v ccache >/dev/null && CC="ccache $CC"

if [ ! -f "$BDIR/build.ninja" ]; then
    mkdir -p "$BDIR"
    # shellcheck disable=SC2086
    (cd "$BDIR" && ../configure ${QEMU_CONFIGURE_EXTRA:-} \
        --target-list=x86_64-softmmu \
        --python=/usr/bin/python3 \
        --cc="$CC" \
        --disable-docs --disable-rust --disable-user \
        --disable-install-blobs --disable-download \
        --disable-werror \
        --firmwarepath="${FIRMWARE// /:}" \
        --disable-kvm \
        --enable-slirp) > "$BDIR/configure.log" 2>&1 || {
            tail -30 "$BDIR/configure.log" >&2
            echo "build-qemu: configure failed in $BDIR (see configure.log)" >&2
            exit 1
        }
fi

ninja -C "$BDIR" "$@"

# A binary run from the build tree relocates the firmware path into
# build/qemu-bundle/: point those directories at Debian's.
for d in $FIRMWARE; do
    link=$BDIR/qemu-bundle$d
    if [ ! -e "$link" ]; then
        mkdir -p "$(dirname "$link")"
        ln -sfn "$d" "$link"
    fi
done
