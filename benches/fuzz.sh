#!/usr/bin/env bash
# Coverage-guided fuzzing of the engine's parsers and evaluators and of the
# config loader (libFuzzer through libfuzzer-sys; crate: engine/fuzz).
#
#   benches/fuzz.sh build              build every target (one cargo build)
#   benches/fuzz.sh seed               fill engine/fuzz/corpus/<target> from ../shared and config/examples
#   benches/fuzz.sh run TARGET SECS    fuzz one target; keeps going after a finding until SECS are up
#   benches/fuzz.sh all SECS           each target in turn for SECS
#   benches/fuzz.sh ci [SECS]          build, replay the regressions, then each target SECS (default 30) from the committed seeds
#   benches/fuzz.sh minimize TARGET    merge corpus/<TARGET> into a minimal seeds/<TARGET>
#   benches/fuzz.sh replay [TARGET]    run engine/fuzz/regressions/<target>/* once each; lists what still fails
#
# No cargo-fuzz needed: it builds with the flags `cargo fuzz build` uses
# (release profile, debug assertions, AddressSanitizer, sancov), so the
# layout also works with `cargo fuzz run TARGET` for those who have it.
# Findings go to engine/fuzz/artifacts/<target>/, logs to engine/fuzz/logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$ROOT/engine/fuzz
TRIPLE=x86_64-unknown-linux-gnu
BIN=$FUZZ/target/$TRIPLE/release
TARGETS=(json_reader definition jsonpath intrinsics jsonata config)
SHARED=${SHARED:-$ROOT/../shared}

max_len() {
    case $1 in
        json_reader) echo 4096 ;;
        definition | config) echo 4096 ;;
        *) echo 512 ;;
    esac
}

dict_for() {
    case $1 in
        definition) echo "$FUZZ/dicts/asl.dict" ;;
        jsonata) echo "$FUZZ/dicts/jsonata.dict" ;;
        jsonpath | intrinsics) echo "$FUZZ/dicts/paths.dict" ;;
        json_reader) echo "$FUZZ/dicts/json.dict" ;;
        config) echo "$FUZZ/dicts/config.dict" ;;
    esac
}

build() {
    # cargo-fuzz's flags (src/project.rs), less `-C codegen-units=1`: a
    # faster build matters more in CI than the last few execs/s.
    local flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
    flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
    flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
    flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth --cfg fuzzing -Clink-dead-code -Cdebug-assertions"
    flags+=" -Zsanitizer=address"
    (cd "$FUZZ" && RUSTFLAGS="$flags ${RUSTFLAGS:-}" CARGO_FUZZ=1 \
        cargo +nightly build --release --target "$TRIPLE" --bins --locked ${OFFLINE---offline})
}

seed() {
    local c=$FUZZ/corpus
    mkdir -p "${TARGETS[@]/#/$c/}"
    python3 "$FUZZ/seed.py" "$SHARED" "$ROOT" "$c"
}

# Fuzz TARGET for SECS from CORPUS dirs; a crash, timeout or OOM ends a
# libFuzzer process, so a new one starts until the time is up.
fuzz() {
    local target=$1 secs=$2
    shift 2
    local art=$FUZZ/artifacts/$target/ logs=$FUZZ/logs
    mkdir -p "$art" "$logs" "$@"
    local end=$((SECONDS + secs)) round=0 execs=0
    local dict
    dict=$(dict_for "$target")
    while ((SECONDS < end)); do
        round=$((round + 1))
        local log=$logs/$target.$round.log
        set +e
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:detect_leaks=0} "$BIN/$target" \
            -max_total_time=$((end - SECONDS)) -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$target")" \
            -artifact_prefix="$art" -print_final_stats=1 ${dict:+-dict="$dict"} "$@" >"$log" 2>&1
        local rc=$?
        set -e
        local n
        n=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        execs=$((execs + ${n:-0}))
        if ((rc != 0)); then
            FINDINGS=$((FINDINGS + 1))
            echo "$target: round $round ended with $rc: $(grep -m1 -E 'ERROR: libFuzzer|ERROR: AddressSanitizer|panicked at|SUMMARY' "$log" || true)"
            grep -E '^artifact_prefix|Test unit written' "$log" | tail -1
        fi
    done
    local last=$logs/$target.$round.log
    local stats
    stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$last" | tail -1 || true)
    echo "$target: ${secs}s, $round round(s), $execs execs ($((execs / (secs > 0 ? secs : 1))) /s); last: $stats"
    echo "$target: findings: $(find "$art" -type f | wc -l) in $art"
}

replay() {
    for t in ${1:-${TARGETS[@]}}; do
        for f in "$FUZZ/regressions/$t"/*; do
            [[ -f $f ]] || continue
            if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:detect_leaks=0} "$BIN/$t" \
                -rss_limit_mb=2048 -timeout=10 "$f" >/dev/null 2>&1; then
                echo "pass $t/${f##*/}"
            else
                FINDINGS=$((FINDINGS + 1))
                echo "FAIL $t/${f##*/}"
            fi
        done
    done
}

FINDINGS=0
case ${1:-} in
    build) build ;;
    seed) seed ;;
    run)
        [[ -x $BIN/${2:?target} ]] || build
        fuzz "$2" "${3:?seconds}" "$FUZZ/corpus/$2" "$FUZZ/seeds/$2"
        ;;
    all)
        for t in "${TARGETS[@]}"; do fuzz "$t" "${2:?seconds}" "$FUZZ/corpus/$t" "$FUZZ/seeds/$t"; done
        ;;
    ci)
        build
        # Every input that once crashed, first: a fixed bug must stay fixed.
        replay ""
        for t in "${TARGETS[@]}"; do
            # A scratch corpus: CI must not write into the committed seeds.
            scratch=$(mktemp -d)
            fuzz "$t" "${2:-30}" "$scratch" "$FUZZ/seeds/$t"
            rm -rf "$scratch"
        done
        echo "fuzz ci: $FINDINGS finding(s)"
        ((FINDINGS == 0))
        ;;
    replay)
        replay "${2:-}"
        ((FINDINGS == 0))
        ;;
    minimize)
        t=${2:?target}
        rm -rf "$FUZZ/seeds/$t.new" && mkdir -p "$FUZZ/seeds/$t.new"
        "$BIN/$t" -merge=1 -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
            "$FUZZ/seeds/$t.new" "$FUZZ/corpus/$t" "$FUZZ/seeds/$t"
        rm -rf "$FUZZ/seeds/$t" && mv "$FUZZ/seeds/$t.new" "$FUZZ/seeds/$t"
        # Committed seeds stay small: drop the largest until under budget.
        budget=${SEED_BUDGET:-250000}
        total=$(find "$FUZZ/seeds/$t" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
        while ((total > budget)); do
            largest=$(find "$FUZZ/seeds/$t" -type f -printf '%s %p\n' | sort -n | tail -1)
            rm "${largest#* }"
            total=$((total - ${largest%% *}))
        done
        echo "$t: $(find "$FUZZ/seeds/$t" -type f | wc -l) seeds, $total bytes"
        ;;
    *)
        sed -n '2,15p' "$0"
        exit 2
        ;;
esac
