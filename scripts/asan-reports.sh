#!/bin/bash
# TAP: the sanitizer reports that the QEMUs of the asan suites wrote
# (ASAN_OPTIONS/UBSAN_OPTIONS log_path, one file per process), so that a
# report is seen even from a QEMU whose stderr a test hides.  Any
# AddressSanitizer, LeakSanitizer or UBSan error fails.
#
# Usage: asan-reports.sh DIR
set -uo pipefail
dir=${1:?usage: asan-reports.sh DIR}
echo "1..1"
mapfile -t bad < <(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
                   "$dir"/report.* 2>/dev/null)
n=$(find "$dir" -name 'report.*' 2>/dev/null | wc -l)
if [ ${#bad[@]} = 0 ]; then
    echo "ok 1 asan: no sanitizer report in $n QEMU logs"
    exit 0
fi
for f in "${bad[@]}"; do
    echo "# === $f"
    sed 's/^/# /' "$f"
done
echo "not ok 1 asan: ${#bad[@]} sanitizer reports (see above)"
exit 1
