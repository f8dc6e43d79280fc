#!/bin/bash
# Build every commit of the series on its own ("each patch builds"), in a
# clone of the work tree (build/each-commit) with its own build directory,
# so that the work tree and its build stay as they are.  ccache makes the
# commits after the first cheap.  Prints one line per commit:
#   OK N HASH warnings=W SUBJECT   or   FAIL N HASH SUBJECT (and the errors)
# Usage: build-each-commit.sh [FIRST]   (FIRST: 1-based index, default 1)
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
TREE=$TOP/build/qemu
CLONE=$TOP/build/each-commit
FIRST=${1:-1}

if [ ! -d "$CLONE/.git" ]; then
    git clone -q "$TREE" "$CLONE"
fi
cd "$CLONE" || exit 1
git fetch -q --tags origin
git checkout -q --detach origin/master
[ -f build/build.ninja ] ||
    QEMU_BUILD_DIR=build "$TOP/scripts/build-qemu.sh" "$CLONE" qemu-system-x86_64 \
        > /dev/null 2>&1

fail=0
n=0
for c in $(git log --reverse --format=%h pristine..origin/master); do
    n=$((n + 1))
    [ "$n" -lt "$FIRST" ] && continue
    git checkout -q "$c"
    # Regenerate build.ninja first: a commit may add test targets
    ninja -C build build.ninja > /dev/null 2>&1
    targets="qemu-system-x86_64 tests/qtest/migration-test tests/qtest/qos-test"
    for t in tests/qtest/virtio-net-iterative-test \
             tests/qtest/virtio-iterative-devices-test \
             tests/vhost-user-net-test-backend \
             storage-daemon/qemu-storage-daemon \
             tests/vduse-net-test-device; do
        grep -q "^build $t:" build/build.ninja && targets="$targets $t"
    done
    log=build/each-commit-$n.log
    # shellcheck disable=SC2086
    if ninja -C build $targets > "$log" 2>&1; then
        echo "OK $n $c warnings=$(grep -c 'warning:' "$log") $(git log -1 --format=%s "$c")"
    else
        echo "FAIL $n $c $(git log -1 --format=%s "$c")"
        grep -m5 'error' "$log"
        fail=1
    fi
done
exit $fail
