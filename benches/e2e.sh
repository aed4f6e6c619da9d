#!/usr/bin/env bash
# End-to-end runtime benchmark: file source -> executor -> null sink, the
# reference machines with 1 and 2 shards (or the shard counts given).
#   benches/e2e.sh [SHARDS...]        e.g. benches/e2e.sh 1 2 4 8 16
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin expressway >/dev/null
BIN=$PWD/target/release/expressway
WORK=$PWD/target/e2e-bench
mkdir -p "$WORK"
[ -s "$WORK/a.jsonl" ] || python3 -c "
line = open('benches/machines/pass-chain.input.json').read().strip()
open('$WORK/a.jsonl', 'w').write((line + '\n') * 2_000_000)
line = open('benches/machines/iot-fanout.input.json').read().strip()
open('$WORK/b.jsonl', 'w').write((line + '\n') * 400_000)"
shards=("$@")
[ ${#shards[@]} -gt 0 ] || shards=(1 2)
for machine in a:pass-chain b:iot-fanout; do
  f=${machine%%:*}; name=${machine#*:}
  for n in "${shards[@]}"; do
    cat > "$WORK/$f-$n.yaml" <<YAML
pipelines:
  - name: $name
    state_machine: $PWD/benches/machines/$name.asl.json
    source: { type: file, path: $WORK/$f.jsonl, checkpoint: $WORK/$f-$n.checkpoint }
    sink: { type: "null" }
    dead_letter: { type: "null" }
runtime: { shards: $n, max_in_flight_per_shard: 4096 }
YAML
    printf '%-11s shards=%-3s ' "$name" "$n"
    "$BIN" run --config "$WORK/$f-$n.yaml" --from-start 2>&1 | grep -o '[0-9]* executions.*' | sed 's/(.*dead letters, //'
  done
done
