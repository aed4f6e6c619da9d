#!/usr/bin/env bash
# The pure engine (`expressway-engine`) must know nothing of threads, clocks,
# channels, networks, logging or metrics: that is the runtime's job. This
# reads its normal (non-dev, non-build) dependency tree and fails if any
# such crate, or chrono's wall-clock feature, is in it.
set -euo pipefail
cd "$(dirname "$0")/../.."
tree=$(cargo tree --locked -p expressway-engine -e normal --prefix none --no-dedupe -f '{p} [{f}]' | sort -u)
denied='^(tokio|tokio-[a-z-]+|mio|socket2|async-[a-z-]+|hyper|hyper-[a-z-]+|h2|reqwest|rustls|native-tls|rdkafka|aws-[a-z-]+|redis|crossbeam|crossbeam-[a-z-]+|flume|futures|futures-[a-z-]+|rayon|rayon-core|threadpool|parking_lot|dashmap|tracing|tracing-[a-z-]+|log|env_logger|slog|metrics|metrics-[a-z-]+|signal-hook|signal-hook-[a-z-]+|iana-time-zone|mimalloc) v'
bad=$(echo "$tree" | grep -E "$denied" || true)
clock=$(echo "$tree" | grep -E '^chrono v' | grep -E '\b(clock|now|wasmbind)\b' || true)
if [ -n "$bad" ] || [ -n "$clock" ]; then
  echo "expressway-engine must stay pure (no threads, clocks, channels, networking, logging, metrics); found:" >&2
  [ -n "$bad" ] && echo "$bad" >&2
  [ -n "$clock" ] && echo "chrono with a wall-clock feature: $clock" >&2
  exit 1
fi
echo "expressway-engine is pure: $(echo "$tree" | wc -l) crates, none of them threads, clocks, channels, networking, logging or metrics"
