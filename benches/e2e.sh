#!/usr/bin/env bash
# End-to-end runtime benchmark: file source -> executor -> null sink, the
# reference machines with 1 and 2 shards (or the shard counts given).
#   benches/e2e.sh [SHARDS...]        e.g. benches/e2e.sh 1 2 4 8 16
# EXPRESSWAY_BIN runs a prebuilt binary (the multi-core machine has no
# toolchain); A_RECORDS and B_RECORDS size the inputs ((b) and (b') JSONata
# share B_RECORDS), ORDERING sets runtime.ordering, MACHINES picks some of
# a (pass-chain), b (iot-fanout), j (iot-fanout-jsonata): default "a b".
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EXPRESSWAY_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --bin expressway >/dev/null
  BIN=$PWD/target/release/expressway
fi
WORK=${WORK:-$PWD/target/e2e-bench}
A_RECORDS=${A_RECORDS:-2000000}
B_RECORDS=${B_RECORDS:-400000}
mkdir -p "$WORK"
read -ra machines <<< "${MACHINES:-a b}"
python3 - "${machines[@]}" <<PY
import os, sys
for f, name, n in (('a', 'pass-chain', $A_RECORDS), ('b', 'iot-fanout', $B_RECORDS), ('j', 'iot-fanout-jsonata', $B_RECORDS)):
    if f not in sys.argv[1:]:
        continue
    path = '$WORK/%s.jsonl' % f
    line = open('benches/machines/%s.input.json' % name).read().strip() + '\n'
    if not os.path.exists(path) or os.path.getsize(path) != len(line) * n:
        open(path, 'w').write(line * n)
PY
shards=("$@")
[ ${#shards[@]} -gt 0 ] || shards=(1 2)
for machine in a:pass-chain b:iot-fanout j:iot-fanout-jsonata; do
  f=${machine%%:*}; name=${machine#*:}
  [[ " ${machines[*]} " == *" $f "* ]] || continue
  for n in "${shards[@]}"; do
    cat > "$WORK/$f-$n.yaml" <<YAML
pipelines:
  - name: $name
    state_machine: $PWD/benches/machines/$name.asl.json
    source: { type: file, path: $WORK/$f.jsonl, checkpoint: $WORK/$f-$n.checkpoint }
    sink: { type: "null" }
    dead_letter: { type: "null" }
runtime: { shards: $n, max_in_flight_per_shard: 4096, ordering: ${ORDERING:-partition} }
YAML
    printf '%-18s shards=%-3s ' "$name" "$n"
    "$BIN" run --config "$WORK/$f-$n.yaml" --from-start 2>&1 | grep -o '[0-9]* executions.*' | sed 's/(.*dead letters, //'
  done
done
