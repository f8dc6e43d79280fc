#!/bin/bash
# Fetch and verify the Debian source package qemu 1:10.2.2+ds-1.
#
# Files come from $QEMU_SOURCE_CACHE when it holds them, else from
# "apt-get source --download-only" (a deb-src entry for sid is added if
# needed).  Every file is checked against the sha256 sums below; a missing
# file or a wrong sum stops with a clear message.
#
# Usage: fetch-source.sh DESTDIR
set -euo pipefail

DEST=${1:?usage: fetch-source.sh DESTDIR}
PKG=qemu
VERSION=1:10.2.2+ds-1
SUMS="f1684b3aa5ec500c3389d346c6501dee45041ea91656c6556d4da9023b7987dd  qemu_10.2.2+ds-1.dsc
be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb  qemu_10.2.2+ds.orig.tar.xz
ddf75aceab4f8f77374f3cb34fc97b41514895aeb293ce8b2ddd5e072bb0f5c0  qemu_10.2.2+ds-1.debian.tar.xz"

die() { echo "fetch-source: $*" >&2; exit 1; }

verify() {
    (cd "$DEST" && echo "$SUMS" | sha256sum --strict --quiet -c -) 2>&1
}

mkdir -p "$DEST"
if verify >/dev/null 2>&1; then
    exit 0
fi

files=$(echo "$SUMS" | awk '{print $2}')
if [ -n "${QEMU_SOURCE_CACHE:-}" ]; then
    [ -d "$QEMU_SOURCE_CACHE" ] ||
        die "QEMU_SOURCE_CACHE=$QEMU_SOURCE_CACHE is not a directory"
    for f in $files; do
        [ -f "$QEMU_SOURCE_CACHE/$f" ] ||
            die "$f missing from QEMU_SOURCE_CACHE=$QEMU_SOURCE_CACHE"
        cp -f "$QEMU_SOURCE_CACHE/$f" "$DEST/"
    done
    echo "fetch-source: copied from $QEMU_SOURCE_CACHE"
else
    if ! grep -rqsE '^(deb-src .* sid|Suites:.*sid)' /etc/apt/sources.list \
            /etc/apt/sources.list.d/ ||
       ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        [ "$(id -u)" = 0 ] || die "need a deb-src entry for sid (run as root)"
        cat > /etc/apt/sources.list.d/sid-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi
    (cd "$DEST" && apt-get source --download-only "$PKG=$VERSION") ||
        die "apt-get source $PKG=$VERSION failed"
fi

out=$(verify) || die "checksum verification failed in $DEST:
$out"
echo "fetch-source: verified $(echo "$files" | wc -l) files"
