#!/bin/bash
# QEMU's scripts/checkpatch.pl on every patch of patches/series, as TAP.
# Errors (a missing Signed-off-by among them) fail a patch; warnings are
# shown in the log but do not.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
TREE=$TOP/build/qemu
CHECKPATCH=$TREE/scripts/checkpatch.pl
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series" 2>/dev/null)

echo "1..$(( ${#patches[@]} > 0 ? ${#patches[@]} : 1 ))"
if [ ${#patches[@]} = 0 ]; then
    echo "ok 1 checkpatch: no patches # SKIP empty series"
    exit 0
fi
n=0
for p in "${patches[@]}"; do
    n=$((n + 1))
    out=$(cd "$TREE" && perl "$CHECKPATCH" --color=never "$TOP/patches/$p" 2>&1)
    echo "$out" | sed 's/^/# /'
    # checkpatch exits 1 on warnings too: judge by its error count
    errors=$(echo "$out" | sed -n 's/^total: \([0-9]*\) errors.*/\1/p' | tail -n1)
    if [ "${errors:-1}" = 0 ]; then
        echo "ok $n checkpatch $p"
    else
        echo "not ok $n checkpatch $p"
    fi
done
