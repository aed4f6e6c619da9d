#!/usr/bin/env bash
# Multi-core scaling, for a many-core machine with no Rust toolchain: runs
# prebuilt binaries from BINS (expressway, the `kafka` bench example and the
# tansu broker from `deploy/dev/services.sh install`, each optionally .gz).
#   benches/scaling.sh BINS [SHARDS...]
# 1. `expressway bench`, one thread, the three reference machines ((a), (b), (b') JSONata);
# 2. the file-source runtime (benches/e2e.sh) at each shard count;
# 3. Kafka -> Expressway -> Kafka against the raw passthrough, on a local
#    tansu broker, at each shard count: 4 partitions (per partition and per
#    key ordering: 4 partitions cap `partition` at 4 shards) and 32, the
#    last with one sink writer per 4 shards as well as with one in all, and
#    then also with a consumer (source reader) per 8 shards.
set -uo pipefail
cd "$(dirname "$0")/.."
BINS=$(cd "${1:?folder with expressway, kafka and tansu}" && pwd)
shift
shards=("$@")
[ ${#shards[@]} -gt 0 ] || shards=(1 2 4 8 16)
work=$(mktemp -d)
for f in "$BINS"/*.gz; do [ -e "$f" ] && gunzip -c "$f" > "$work/$(basename "$f" .gz)"; done
for f in "$BINS"/*; do case $f in *.gz) ;; *) cp "$f" "$work/" ;; esac; done
chmod +x "$work"/*
echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"

echo "== expressway bench (one thread)"
for m in pass-chain iot-fanout iot-fanout-jsonata; do
  printf '%-18s ' "$m"
  "$work/expressway" bench --definition "benches/machines/$m.asl.json" --input "benches/machines/$m.input.json" 2>&1 | tail -1
done

echo "== file source -> runtime -> null sink"
EXPRESSWAY_BIN="$work/expressway" WORK="$work/e2e" A_RECORDS=${A_RECORDS:-8000000} B_RECORDS=${B_RECORDS:-2000000} \
  MACHINES=${MACHINES:-a b j} benches/e2e.sh "${shards[@]}"

echo "== Kafka -> Expressway -> Kafka (tansu, memory storage, same machine)"
setsid "$work/tansu" broker --listener-url tcp://127.0.0.1:9392 --advertised-listener-url tcp://127.0.0.1:9392 \
  --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1 &
sleep 1
for n in "${shards[@]}"; do
  # The last runs give the shards a sink writer (and producer) per 4 of
  # them, then a consumer per 8 as well.
  w=$(( (n + 3) / 4 )) c=$(( (n + 7) / 8 ))
  for run in 4:partition:1:1 4:key:1:1 32:partition:1:1 32:partition:$w:1 32:partition:$w:$c; do
    IFS=: read -r partitions ordering writers consumers <<< "$run"
    echo "-- shards=$n partitions=$partitions ordering=$ordering sink_writers=$writers consumers=$consumers"
    KAFKA_BROKERS=127.0.0.1:9392 SHARDS=$n PARTITIONS=$partitions ORDERING=$ordering SINK_WRITERS=$writers CONSUMERS=$consumers \
      MACHINES="$PWD/benches/machines" timeout 180 "$work/kafka" "${KAFKA_RECORDS:-400000}" 2>&1 | grep -v '^%'
  done
done
pkill -f "$work/tansu" || true
