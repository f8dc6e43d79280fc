#!/bin/bash
# Create (or re-create) the QEMU git work tree:
#   commit 1     pristine import of "dpkg-source -x" (Debian patches applied)
#   commits 2..  one per patch of patches/series, applied with "git am"
# and a second worktree at the pristine import for the baseline build.
#
# Usage: mk-tree.sh DLDIR TREE BASELINE PATCHDIR
# A tree that holds commits or changes not found in PATCHDIR is left alone
# unless FORCE=1.
set -euo pipefail

DL=${1:?} TREE=${2:?} BASE=${3:?} PATCHES=${4:?}
DSC=qemu_10.2.2+ds-1.dsc
DL=$(cd "$DL" && pwd)
TAG=pristine
export GIT_AUTHOR_NAME="Debian import" GIT_AUTHOR_EMAIL="import@localhost"
export GIT_COMMITTER_NAME="Debian import" GIT_COMMITTER_EMAIL="import@localhost"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"

die() { echo "mk-tree: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

series() {
    [ -f "$PATCHES/series" ] || return 0
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$PATCHES/series"
}

if [ ! -d "$TREE/.git" ]; then
    tmp=$(mktemp -d "$(dirname "$TREE")/unpack.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "mk-tree: unpacking $DSC"
    (cd "$tmp" && dpkg-source --no-copy -q -x "$DL/$DSC" qemu) \
        >/dev/null 2>"$tmp.log" || { cat "$tmp.log" >&2; die "dpkg-source -x failed"; }
    rm -f "$tmp.log"
    rm -rf "$TREE" && mv "$tmp/qemu" "$TREE"
    git -C "$TREE" init -q -b master
    # quilt bookkeeping of dpkg-source is not part of the source
    echo "/.pc/" >> "$TREE/.git/info/exclude"
    git -C "$TREE" config core.autocrlf false
    git -C "$TREE" config am.keepcr true
    git -C "$TREE" add -A -f .
    git -C "$TREE" commit -q --no-verify \
        -m "Import qemu 1:10.2.2+ds-1 (dpkg-source -x)"
    git -C "$TREE" tag -f "$TAG" >/dev/null
    echo "mk-tree: pristine import $(git -C "$TREE" rev-parse --short HEAD)"
else
    git -C "$TREE" rev-parse -q --verify "$TAG" >/dev/null ||
        die "$TREE has no '$TAG' tag; remove it to re-create"
    if "$here/tree-sync.sh" check "$TREE" "$PATCHES" >/dev/null; then
        echo "mk-tree: $TREE matches $PATCHES/series"
        REAPPLY=0
    elif [ "${FORCE:-0}" != 1 ]; then
        "$here/tree-sync.sh" check "$TREE" "$PATCHES" >&2 || true
        die "$TREE holds work that is not in $PATCHES/ ('make export' it, or FORCE=1 to drop it)"
    fi
fi

if [ "${REAPPLY:-1}" = 1 ]; then
    git -C "$TREE" am --abort >/dev/null 2>&1 || true
    git -C "$TREE" checkout -q -f -B master "$TAG"
    git -C "$TREE" reset -q --hard "$TAG"
fi

n=0
for p in $( [ "${REAPPLY:-1}" = 1 ] && series); do
    [ -f "$PATCHES/$p" ] || die "patch listed in series not found: $p"
    if ! git -C "$TREE" am -q --committer-date-is-author-date \
            "$(cd "$PATCHES" && pwd)/$p" >/dev/null 2>&1; then
        git -C "$TREE" am --abort >/dev/null 2>&1 || true
        die "patch does not apply: $p"
    fi
    n=$((n + 1))
done
[ "${REAPPLY:-1}" = 0 ] ||
    echo "mk-tree: $TREE at $(git -C "$TREE" rev-parse --short HEAD), $n patches applied"

if [ ! -e "$BASE/.git" ]; then
    mkdir -p "$(dirname "$BASE")"
    git -C "$TREE" worktree prune
    git -C "$TREE" worktree add -q --detach "$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")" "$TAG"
    echo "mk-tree: baseline worktree $BASE at $TAG"
fi
