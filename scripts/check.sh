#!/bin/bash
# The project's test command ("make check"): checkpatch on every patch,
# work tree == patches/, our qtests and the upstream suites our code
# touches, run against the patched build.  Ends with "N passed, N failed".
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
TREE=$TOP/build/qemu
BASE=$TOP/build/baseline/qemu
OUT=$TOP/build/check
B=$TREE/build
mkdir -p "$OUT"
rm -rf "$OUT/asan" && mkdir -p "$OUT/asan"

# QEMU_CHECK_FILTER=regex keeps only the suites whose name matches
FILTER=${QEMU_CHECK_FILTER:-.}

qtest_env() {
    local bdir=$1
    cat <<J
{"QTEST_QEMU_BINARY": "$bdir/qemu-system-x86_64",
 "QTEST_QEMU_IMG": "$bdir/qemu-img",
 "QTEST_QEMU_STORAGE_DAEMON_BINARY": "$bdir/storage-daemon/qemu-storage-daemon",
 "PYTHON": "$bdir/pyvenv/bin/python3",
 "G_TEST_DBUS_DAEMON": "$TREE/tests/dbus-vmstate-daemon.sh",
 "MALLOC_PERTURB_": "165"}
J
}

# The iterative suites again, with the QEMUs under test built with
# AddressSanitizer and UBSan by clang (build-fuzz/, which also holds the
# fuzz targets): any report (LeakSanitizer
# included, at QEMU's exit) makes QEMU fail, and so the test that ran it;
# the reports go to build/check/asan/report.PID (also from QEMUs whose
# stderr a test hides), and the last suite prints them and fails on any.
# Leaks that stock QEMU 10.2.2 has are listed in scripts/lsan.supp.
AB=$TREE/build-fuzz
asan_env() {
    qtest_env "$B" | sed "s|\"$B/qemu-system-x86_64\",|\"$AB/qemu-system-x86_64\", \
\"ASAN_OPTIONS\": \"detect_leaks=1:halt_on_error=1:fast_unwind_on_malloc=0:log_path=$OUT/asan/report\", \
\"LSAN_OPTIONS\": \"suppressions=$TOP/scripts/lsan.supp:print_suppressions=0\", \
\"UBSAN_OPTIONS\": \"halt_on_error=1:print_stacktrace=1:log_path=$OUT/asan/report\",|"
}

# Stock QEMU 10.2.2 and the patched build migrate to each other with the
# capability off (the default)
BB=$BASE/build
# (virtio-iterative/stream-off compares the device section byte for byte)
COMPAT_PATHS=$(printf '"-p", "/x86_64/migration/%s", ' precopy/unix/plain \
               precopy/tcp/plain precopy/file postcopy/plain \
               virtio-iterative/stream-off | sed 's/, $//')
# the other side is QTEST_QEMU_BINARY, the patched build
compat_env() {
    qtest_env "$B" | sed "s|^{|{\"QTEST_QEMU_BINARY_$1\": \"$BB/qemu-system-x86_64\",|"
}

# qos-test: only the graph paths that reach virtio-net or vhost-user
qos_paths() {
    QTEST_QEMU_BINARY=$B/qemu-system-x86_64 "$B/tests/qtest/qos-test" -l 2>/dev/null |
        grep -E 'virtio-net|vhost-user' | grep -E "${1:-.}" |
        sed 's/^/"-p", "/; s/$/",/' | tr -d '\n'
}

cat > "$OUT/suites.json" <<J
[
 {"name": "checkpatch", "cmd": ["$TOP/scripts/checkpatch-series.sh"], "timeout": 300},
 {"name": "tree-sync", "cmd": ["$TOP/scripts/tree-sync.sh", "tap", "$TREE", "$TOP/patches"],
  "timeout": 120},
 {"name": "migration-test", "cmd": ["$B/tests/qtest/migration-test", "--tap", "-k"],
  "env": $(qtest_env "$B"), "cwd": "$B", "timeout": 2400},
 {"name": "migration-compat stock->patched",
  "cmd": ["$B/tests/qtest/migration-test", "--tap", "-k", $COMPAT_PATHS],
  "env": $(compat_env SRC), "cwd": "$B",
  "timeout": 900},
 {"name": "migration-compat patched->stock",
  "cmd": ["$B/tests/qtest/migration-test", "--tap", "-k", $COMPAT_PATHS],
  "env": $(compat_env DST), "cwd": "$B",
  "timeout": 900},
 {"name": "qos-test (virtio-net, vhost-user)",
  "cmd": ["$B/tests/qtest/qos-test", "--tap", "-k", $(qos_paths) "-m", "quick"],
  "env": $(qtest_env "$B"), "cwd": "$B", "timeout": 900},
 {"name": "virtio-net-failover", "cmd": ["$B/tests/qtest/virtio-net-failover", "--tap", "-k"],
  "env": $(qtest_env "$B"), "cwd": "$B", "timeout": 900},
 {"name": "virtio-net-iterative-test",
  "cmd": ["$B/tests/qtest/virtio-net-iterative-test", "--tap", "-k"],
  "env": $(qtest_env "$B"), "cwd": "$B", "timeout": 900},
 {"name": "asan: migration-test virtio-iterative",
  "cmd": ["$B/tests/qtest/migration-test", "--tap", "-k",
          "-p", "/x86_64/migration/virtio-iterative"],
  "env": $(asan_env), "cwd": "$B", "timeout": 1200},
 {"name": "asan: qos-test vhost-user quickstart",
  "cmd": ["$B/tests/qtest/qos-test", "--tap", "-k", $(qos_paths quickstart) "-m", "quick"],
  "env": $(asan_env), "cwd": "$B", "timeout": 900},
 {"name": "asan: virtio-net-iterative-test",
  "cmd": ["$B/tests/qtest/virtio-net-iterative-test", "--tap", "-k"],
  "env": $(asan_env), "cwd": "$B", "timeout": 1200},
 {"name": "asan: reports", "cmd": ["$TOP/scripts/asan-reports.sh", "$OUT/asan"],
  "timeout": 60},
 {"name": "fuzz: iterative loader (replay corpus and crashes, fuzz 50 s each)",
  "cmd": ["$TOP/scripts/fuzz.sh", "check"], "timeout": 600}
]
J

/usr/bin/python3 - "$OUT/suites.json" "$FILTER" <<'PY'
import json, re, sys
suites = [s for s in json.load(open(sys.argv[1])) if re.search(sys.argv[2], s['name'])]
json.dump(suites, open(sys.argv[1], 'w'), indent=1)
PY

exec /usr/bin/python3 "$TOP/scripts/run-tests.py" "$OUT/suites.json" "$OUT/logs"
