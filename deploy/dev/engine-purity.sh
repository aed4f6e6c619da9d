#!/usr/bin/env bash
# The pure engine (`expressway-engine`, and `expressway-graph`, which draws
# its machines) must know nothing of threads, clocks,
# channels, networks, logging or metrics: that is the runtime's job. This
# reads its normal (non-dev, non-build) dependency tree and fails if any
# such crate, or chrono's wall-clock feature, is in it, or if its code outside
# tests reads a clock or starts a thread.
set -euo pipefail
cd "$(dirname "$0")/../.."
denied='^(tokio|tokio-[a-z-]+|mio|socket2|async-[a-z-]+|hyper|hyper-[a-z-]+|h2|reqwest|rustls|native-tls|rdkafka|aws-[a-z-]+|redis|crossbeam|crossbeam-[a-z-]+|flume|futures|futures-[a-z-]+|rayon|rayon-core|threadpool|parking_lot|dashmap|tracing|tracing-[a-z-]+|log|env_logger|slog|metrics|metrics-[a-z-]+|signal-hook|signal-hook-[a-z-]+|iana-time-zone|mimalloc) v'
# The check must be able to fail: these lines are what a forbidden crate
# looks like in the tree.
for sample in "tokio v1.48.0 [rt]" "crossbeam-channel v0.5.15 [std]" "metrics v0.24.2 []" "tracing v0.1.41 [std]"; do
  echo "$sample" | grep -qE "$denied" || { echo "engine-purity.sh: the deny list misses '$sample'" >&2; exit 1; }
done
echo "chrono v0.4.45 [alloc,clock,std]" | grep -E '^chrono v' | grep -qE '\b(clock|now|wasmbind)\b' \
  || { echo "engine-purity.sh: the clock check misses chrono's clock feature" >&2; exit 1; }

tree=$(cargo tree --locked -p expressway-engine -p expressway-graph -e normal --prefix none --no-dedupe -f '{p} [{f}]' | sort -u)
bad=$(echo "$tree" | grep -E "$denied" || true)
clock=$(echo "$tree" | grep -E '^chrono v' | grep -E '\b(clock|now|wasmbind)\b' || true)
if [ -n "$bad" ] || [ -n "$clock" ]; then
  echo "expressway-engine must stay pure (no threads, clocks, channels, networking, logging, metrics); found:" >&2
  [ -n "$bad" ] && echo "$bad" >&2
  [ -n "$clock" ] && echo "chrono with a wall-clock feature: $clock" >&2
  exit 1
fi
# And its own code, outside `#[cfg(test)]` modules: no clock, thread or
# channel from the standard library either.
code=$(for f in $(find engine/src engine/graph/src -name '*.rs'); do
  awk -v f="$f" '/#\[cfg\(test\)\]/ { exit } { print f ":" FNR ": " $0 }' "$f"
done | grep -E 'SystemTime|Instant::now|std::thread|thread::(spawn|sleep)|std::sync::mpsc' || true)
if [ -n "$code" ]; then
  echo "expressway-engine's code reads a clock or uses threads or channels:" >&2
  echo "$code" >&2
  exit 1
fi
echo "expressway-engine is pure: $(echo "$tree" | wc -l) crates, none of them threads, clocks, channels, networking, logging or metrics"
