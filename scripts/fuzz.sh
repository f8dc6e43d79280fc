#!/bin/bash
# Fuzz the destination's iterative migration loader (virtio-net, 1 and 4
# queue pairs) with the libFuzzer targets of tests/qtest/fuzz/
# virtio_net_iterative_fuzz.c, built by "make fuzz-build" (clang, ASan,
# UBSan) into build/qemu/build-fuzz.
#
# Usage: fuzz.sh run      fuzz each target for FUZZ_TIME s (default 600),
#                         both at once (one per core), progress shown;
#                         new corpus entries go to build/fuzz/corpus/,
#                         crashes to build/fuzz/crashes/
#        fuzz.sh check    (make check, TAP) replay the committed corpus
#                         (fuzz/corpus/) and every past crash input
#                         (fuzz/crashes/), then fuzz each target for
#                         FUZZ_TIME s (default 50)
# A crash input worth keeping goes to fuzz/crashes/TARGET/ with the fix.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
FUZZER=$TOP/build/qemu/build-fuzz/qemu-fuzz-x86_64
WORK=$TOP/build/fuzz
TARGETS="virtio-net-iterative virtio-net-iterative-mq"
MODE=${1:?usage: fuzz.sh run|check}

[ -x "$FUZZER" ] || { echo "fuzz.sh: $FUZZER missing (make fuzz-build)" >&2; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:print_summary=1
export LSAN_OPTIONS=suppressions=$TOP/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# run_target TARGET SECONDS LOG: fuzz, seeded with the committed corpus
run_target() {
    local t=$1 secs=$2 log=$3
    mkdir -p "$WORK/corpus/$t" "$WORK/crashes/$t"
    # the mq target makes a tap in a network namespace of its own
    "$FUZZER" --fuzz-target="$t" -max_total_time="$secs" -print_final_stats=1 \
        -close_fd_mask=2 -artifact_prefix="$WORK/crashes/$t/" \
        -max_len=8192 -timeout=10 \
        "$WORK/corpus/$t" "$TOP/fuzz/corpus/$t" > "$log" 2>&1
}

# "Done N runs in S second(s)" -> "N S"
runs_of() {
    sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$1" | tail -n1
}

case $MODE in
run)
    secs=${FUZZ_TIME:-600}
    mkdir -p "$WORK/logs"
    pids=()
    for t in $TARGETS; do
        echo "fuzz: $t for $secs s (log build/fuzz/logs/$t.log)"
        run_target "$t" "$secs" "$WORK/logs/$t.log" &
        pids+=($!)
    done
    # progress: the latest status line of each fuzzer, once a minute
    while kill -0 "${pids[@]}" 2>/dev/null; do
        sleep 60
        for t in $TARGETS; do
            line=$(grep -E '^#[0-9]+' "$WORK/logs/$t.log" | tail -n1 || true)
            echo "fuzz: $t: ${line:-starting}"
        done
    done
    rc=0
    total=0
    for i in "${!pids[@]}"; do
        t=$(echo $TARGETS | cut -d' ' -f$((i + 1)))
        if ! wait "${pids[$i]}"; then
            rc=1
            echo "fuzz: $t FOUND A CRASH, see build/fuzz/logs/$t.log and build/fuzz/crashes/$t/"
        fi
        read -r runs s _ <<< "$(runs_of "$WORK/logs/$t.log") 0 0"
        total=$((total + runs))
        echo "fuzz: $t: $runs executions in $s s ($((runs / (s > 0 ? s : 1))) exec/s)," \
             "corpus $(ls "$WORK/corpus/$t" | wc -l) new inputs"
    done
    echo "fuzz: $total executions in all, $([ $rc = 0 ] && echo 0 || echo '>= 1') findings"
    exit $rc
    ;;
check)
    secs=${FUZZ_TIME:-50}
    mkdir -p "$WORK/logs"
    n=0
    for t in $TARGETS; do
        mkdir -p "$TOP/fuzz/crashes/$t"
        inputs=$(find "$TOP/fuzz/corpus/$t" "$TOP/fuzz/crashes/$t" -type f | sort)
        n=$((n + 1))
        # each input once, as in a fuzzing run, sanitizers on
        # shellcheck disable=SC2086
        if "$FUZZER" --fuzz-target="$t" -close_fd_mask=2 $inputs \
            > "$WORK/logs/replay-$t.log" 2>&1; then
            echo "ok $n - replay $t: $(echo "$inputs" | wc -l) corpus and crash inputs"
        else
            echo "not ok $n - replay $t (build/fuzz/logs/replay-$t.log)"
            tail -n 30 "$WORK/logs/replay-$t.log" | sed 's/^/# /'
        fi
        n=$((n + 1))
        if run_target "$t" "$secs" "$WORK/logs/check-$t.log"; then
            read -r runs s _ <<< "$(runs_of "$WORK/logs/check-$t.log") 0 0"
            echo "ok $n - fuzz $t for $secs s: $runs executions, no finding"
        else
            echo "not ok $n - fuzz $t: finding in build/fuzz/crashes/$t/" \
                 "(build/fuzz/logs/check-$t.log)"
            grep -A20 -m1 'ERROR\|runtime error\|deadly signal' \
                "$WORK/logs/check-$t.log" | sed 's/^/# /' || true
        fi
    done
    echo "1..$n"
    ;;
*)
    echo "usage: fuzz.sh run|check" >&2
    exit 2
    ;;
esac
