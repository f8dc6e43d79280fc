#!/bin/bash
# The project's test command ("make check"): checkpatch on every patch,
# work tree == patches/, our qtests and the upstream suites our code
# touches, run against the patched build.  Ends with "N passed, N failed".
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
TREE=$TOP/build/qemu
BASE=$TOP/build/baseline/qemu
OUT=$TOP/build/check
mkdir -p "$OUT"
rm -rf "$OUT/asan" && mkdir -p "$OUT/asan"

# QEMU_CHECK_FILTER=regex keeps only the suites whose name matches
FILTER=${QEMU_CHECK_FILTER:-.}

# The suites are scripts/suites.json.  The asan suites run the QEMUs under
# test built by clang with AddressSanitizer and UBSan (build-fuzz/, which
# also holds the fuzz targets): any report (LeakSanitizer included, at
# QEMU's exit) makes QEMU fail, and so the test that ran it; the reports
# go to build/check/asan/report.PID (also from QEMUs whose stderr a test
# hides), and the last of them prints them and fails on any.  Leaks that
# stock QEMU 10.2.2 has are listed in scripts/lsan.supp.  The
# migration-compat suites migrate between stock QEMU 10.2.2 and the
# patched build with the capability off (the default).
exec /usr/bin/python3 "$TOP/scripts/run-tests.py" "$TOP/scripts/suites.json" \
    "$OUT/logs" --filter "$FILTER" \
    --var TOP="$TOP" --var TREE="$TREE" --var B="$TREE/build" \
    --var AB="$TREE/build-fuzz" --var BB="$BASE/build" --var OUT="$OUT"
