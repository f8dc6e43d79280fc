#!/bin/bash
# Compare or synchronise the QEMU work tree with patches/.
#
#   tree-sync.sh check  TREE PATCHDIR   exit 1 if they disagree (and say how)
#   tree-sync.sh tap    TREE PATCHDIR   the same as a one-test TAP report
#   tree-sync.sh export TREE PATCHDIR   write the tree's commits as patches
#
# Patches are compared by "git patch-id --stable", like the before-stop hook.
set -euo pipefail

CMD=${1:?} TREE=${2:?} PATCHES=${3:?}
TAG=pristine
die() { echo "tree-sync: $*" >&2; exit 1; }

git -C "$TREE" rev-parse -q --verify "$TAG" >/dev/null || die "$TREE has no '$TAG' tag"

tree_ids() {
    local c
    for c in $(git -C "$TREE" rev-list --reverse "$TAG"..HEAD); do
        git -C "$TREE" show "$c" | git patch-id --stable | cut -d' ' -f1
    done
}

patch_ids() {
    local p
    [ -f "$PATCHES/series" ] || return 0
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$PATCHES/series" | while read -r p; do
        [ -f "$PATCHES/$p" ] && git patch-id --stable < "$PATCHES/$p" | cut -d' ' -f1
    done
}

case "$CMD" in
check)
    rc=0
    dirty=$(git -C "$TREE" status --porcelain --untracked-files=no)
    if [ -n "$dirty" ]; then
        echo "tree-sync: uncommitted changes in $TREE:"
        echo "$dirty" | sed 's/^/    /'
        rc=1
    fi
    if [ "$(tree_ids)" != "$(patch_ids)" ]; then
        echo "tree-sync: commits in $TREE and $PATCHES/series differ"
        rc=1
    fi
    exit $rc
    ;;
tap)
    echo "1..1"
    if out=$("$0" check "$TREE" "$PATCHES" 2>&1); then
        echo "ok 1 work tree matches patches/series"
    else
        echo "$out" | sed 's/^/# /'
        echo "# run 'make export' (or 'make tree' to drop the tree's changes)"
        echo "not ok 1 work tree matches patches/series"
    fi
    ;;
export)
    [ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
        die "$TREE has uncommitted changes; commit them first"
    mkdir -p "$PATCHES"
    rm -f "$PATCHES"/*.patch
    git -C "$TREE" format-patch -q --zero-commit --no-signature --full-index \
        -o "$(cd "$PATCHES" && pwd)" "$TAG"..HEAD
    (
        echo "# QEMU 10.2.2 (Debian 1:10.2.2+ds-1) iterative device migration"
        echo "# Applied in this order by scripts/mk-tree.sh; written by 'make export'."
        cd "$PATCHES" && ls -1 -- *.patch 2>/dev/null || true
    ) > "$PATCHES/series"
    echo "tree-sync: exported $(git -C "$TREE" rev-list --count "$TAG"..HEAD) patches to $PATCHES/"
    ;;
*)
    die "unknown command $CMD"
    ;;
esac
