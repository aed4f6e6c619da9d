#!/usr/bin/env bash
# Dedup stores on the record path: a file of (b) iot-fanout inputs, each with
# its own deviceId, file -> runtime -> null sink, idempotency key
# `$.deviceId`, with no store, the memory store and the Redis store; each
# binary given, interleaved round by round (a shared VM drifts: compare
# within a round). CPU per thread from benches/threads.py.
#   benches/dedup.sh ROUNDS SHARDS BIN...      (REDIS_URL from target/services.env)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:?rounds}; SHARDS=${2:?shards}; shift 2
: "${REDIS_URL:?REDIS_URL is not set: set -a; . target/services.env; set +a}"
WORK=${WORK:-$PWD/target/dedup-bench}
RECORDS=${RECORDS:-200000}
mkdir -p "$WORK"
python3 -c "
import json
line = json.load(open('benches/machines/iot-fanout.input.json'))
with open('$WORK/b.jsonl', 'w') as f:
    for i in range($RECORDS):
        line['deviceId'] = 'sensor-%d' % i
        f.write(json.dumps(line) + '\n')"
# CPU seconds redis-server has used so far (empty when its pid is unknown).
REDIS_PID=${REDIS_PID:-$(cat target/services/redis.pid 2>/dev/null || true)}
redis_cpu() {
  [ -n "$REDIS_PID" ] && [ -r "/proc/$REDIS_PID/stat" ] || return 0
  awk -v tick="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / tick }' "/proc/$REDIS_PID/stat"
}
for round in $(seq "$ROUNDS"); do
  for dedup in none memory redis; do
    for bin in "$@"; do
      tag="$round-$dedup-$(basename "$bin")"
      case $dedup in
        none) store="" ;;
        memory) store='    idempotency: { key: "$.deviceId" }
    dedup: { type: memory, ttl: 10m, capacity: 1000000 }' ;;
        redis) store="    idempotency: { key: \"\$.deviceId\" }
    dedup: { type: redis, url: \"$REDIS_URL\", ttl: 2m, key_prefix: \"bench-$tag-$$:\" }" ;;
      esac
      cat > "$WORK/$tag.yaml" <<YAML
pipelines:
  - name: dedup-bench
    state_machine: $PWD/benches/machines/iot-fanout.asl.json
    source: { type: file, path: $WORK/b.jsonl, checkpoint: $WORK/$tag.checkpoint }
    sink: { type: "null" }
    dead_letter: { type: "null" }
$store
runtime: { shards: $SHARDS, max_in_flight_per_shard: 4096 }
YAML
      printf 'round %s %-6s %-28s ' "$round" "$dedup" "$(basename "$bin")"
      before=$(redis_cpu)
      python3 benches/threads.py "$bin" "$WORK/$tag.yaml" "$RECORDS" | tr -d '\n'
      after=$(redis_cpu)
      # redis-server shares the machine's cores: its CPU per record counts too.
      awk -v b="$before" -v a="$after" -v n="$RECORDS" \
        'BEGIN { if (b != "" && a != "") printf "; redis-server %.2f us/record", (a - b) * 1e6 / n; print "" }'
    done
  done
done
