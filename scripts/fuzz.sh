#!/usr/bin/env bash
# Fuzzes each of capme's fuzz targets in turn for SECONDS_PER_TARGET seconds (default 60) with
# cargo-fuzz (libFuzzer, nightly toolchain) and prints the executions per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     # default: every target
#
# Needs `rustup toolchain install nightly` and `cargo install cargo-fuzz`. One target at a
# time, each in one process (one job: libFuzzer's default, so that a crash fails the script). Each target starts from its committed seeds
# (fuzz/corpus/<target>) and past findings (fuzz/regressions/<target>); new inputs go to
# fuzz/work/<target> (git-ignored), crashes to fuzz/artifacts/<target>/. A crash stops the
# script: commit the input under fuzz/regressions/<target>/ with the fix, so that the stable
# corpus test (cargo test -p capme-fuzz-targets) replays it from then on.
#
# FUZZ_MERGE=1 afterwards minimises seeds + working corpus (libFuzzer -merge=1) and copies the
# inputs it keeps that are not seeds already into fuzz/corpus/<target>/found-<sha1>, for
# committing (the stable corpus test then replays them); nothing else in fuzz/corpus changes.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pcap_reader pcapng_reader decoder index query catalogue transcript pivot compressed)

cargo +nightly fuzz build -O

declare -A execs
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "regressions/$t" "artifacts/$t"
    log="work/$t.log"
    echo "== $t: ${secs}s"
    # -rss_limit_mb/-malloc_limit_mb: an input that makes a target hold 1 GiB is a finding
    # (unbounded allocation); -timeout: one that takes 10 s is a hang.
    cargo +nightly fuzz run -O "$t" "work/$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=1048576 \
        -print_final_stats=1 >"$log" 2>&1 || {
        tail -40 "$log"
        echo "$t: FAILED (see fuzz/$log and fuzz/artifacts/$t/)" >&2
        exit 1
    }
    execs[$t]="$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}')"
    cov="$(grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -1 | grep -oE 'cov: [0-9]+' || true)"
    echo "$t: ${execs[$t]} executions in ${secs}s ($cov)"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        rm -rf "work/$t.min" && mkdir -p "work/$t.min"
        cargo +nightly fuzz run -O "$t" "work/$t.min" "corpus/$t" "regressions/$t" "work/$t" -- \
            -merge=1 >"work/$t.merge.log" 2>&1
        known="$(find "corpus/$t" "regressions/$t" -type f -exec sha1sum {} + | cut -d' ' -f1)"
        added=0
        for f in "work/$t.min"/*; do
            h="$(sha1sum "$f" | cut -d' ' -f1)"
            if ! grep -qx "$h" <<<"$known"; then
                cp "$f" "corpus/$t/found-$h"
                added=$((added + 1))
            fi
        done
        echo "$t: merged corpus of $(ls "work/$t.min" | wc -l) inputs; $added new ones in fuzz/corpus/$t/found-*"
    fi
done

echo "== executions per target (${secs}s each, $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
for t in "${targets[@]}"; do
    printf '%-14s %s\n' "$t" "${execs[$t]}"
done
