#!/usr/bin/env bash
# Soak test (not CI): run a pipeline for a long time at half its maximum
# rate and check that memory and open files stay flat.
#   benches/soak.sh [SECONDS]        default 3600
# 1. Measures the maximum rate: MEASURE_RECORDS records through the same
#    pipeline as fast as it goes.
# 2. Runs `expressway run` for SECONDS, fed at half that rate by a
#    rate-limited producer on its standard input (a pipe: an hour of input
#    at that rate would not fit on disk as a file), results and dead letters
#    to files (the results file is emptied whenever it passes 1 GB; the
#    sink appends, so it carries on at the new end).
# 3. Samples RSS, open file descriptors, threads and completed executions
#    every SAMPLE seconds into $WORK/soak.csv.
# 4. Says whether RSS and fds stayed flat: the mean of the last quarter of
#    the samples within 10% of the mean of the second quarter (the first
#    quarter is warm-up). Exits 1 if not.
# MACHINE picks the reference machine (iot-fanout); EXPRESSWAY_BIN a prebuilt binary.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-3600}
SAMPLE=${SAMPLE:-10}
MACHINE=${MACHINE:-iot-fanout}
MEASURE_RECORDS=${MEASURE_RECORDS:-300000}
WORK=${WORK:-$PWD/target/soak}
BIN=${EXPRESSWAY_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --offline --bin expressway >/dev/null
  BIN=$PWD/target/release/expressway
fi
mkdir -p "$WORK"
rm -f "$WORK"/results.jsonl "$WORK"/dead.jsonl "$WORK"/soak.csv
INPUT_LINE=$(tr -d '\n' < "benches/machines/$MACHINE.input.json")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

config() { # $1: file to write, $2: metrics line or nothing
  cat > "$1" <<YAML
pipelines:
  - name: soak
    state_machine: $PWD/benches/machines/$MACHINE.asl.json
    source: { type: stdin }
    sink: { type: file, path: $WORK/results.jsonl }
    dead_letter: { type: file, path: $WORK/dead.jsonl }
runtime: { shards: 0, max_in_flight_per_shard: 1024 }
$2
YAML
}

echo "== maximum rate: $MEASURE_RECORDS records of $MACHINE, as fast as they go"
config "$WORK/measure.yaml" ""
python3 -c "
import sys
line = sys.argv[1].encode() + b'\n'
sys.stdout.buffer.write(line * int(sys.argv[2]))" "$INPUT_LINE" "$MEASURE_RECORDS" > "$WORK/measure.jsonl"
start=$(date +%s.%N)
"$BIN" run --config "$WORK/measure.yaml" < "$WORK/measure.jsonl" 2> "$WORK/measure.log"
end=$(date +%s.%N)
MAX_RATE=$(python3 -c "print(int($MEASURE_RECORDS / ($end - $start)))")
RATE=$((MAX_RATE / 2))
rm -f "$WORK/measure.jsonl" "$WORK/results.jsonl" "$WORK/dead.jsonl"
echo "max rate: $MAX_RATE records/s; soaking at $RATE records/s for ${DURATION}s, sampling every ${SAMPLE}s"

# The producer: RATE lines a second in 10 ms ticks, for DURATION seconds.
cat > "$WORK/producer.py" <<'PY'
import sys, time
line, rate, duration = sys.argv[1].encode() + b"\n", int(sys.argv[2]), float(sys.argv[3])
out = sys.stdout.buffer
start = time.monotonic()
sent = 0
while True:
    now = time.monotonic() - start
    if now >= duration:
        break
    due = int(rate * now) - sent
    if due > 0:
        out.write(line * due)
        out.flush()
        sent += due
    time.sleep(0.01)
print(f"producer: {sent} records in {time.monotonic() - start:.0f}s", file=sys.stderr)
PY
config "$WORK/soak.yaml" "metrics: { address: \"127.0.0.1:$PORT\" }"
"$BIN" run --config "$WORK/soak.yaml" \
  < <(python3 "$WORK/producer.py" "$INPUT_LINE" "$RATE" "$DURATION" 2> "$WORK/producer.log") \
  2> "$WORK/soak.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT

echo "seconds,rss_kb,fds,threads,executions" > "$WORK/soak.csv"
t0=$(date +%s)
while kill -0 "$PID" 2>/dev/null; do
  sleep "$SAMPLE"
  [ -r "/proc/$PID/status" ] || break
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
  fds=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l)
  [ -n "$rss" ] || break
  executions=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^expressway_executions_started_total/ {print $2}' || true)
  echo "$(( $(date +%s) - t0 )),$rss,$fds,$threads,${executions:-}" | tee -a "$WORK/soak.csv"
  if [ "$(stat -c %s "$WORK/results.jsonl" 2>/dev/null || echo 0)" -gt 1000000000 ]; then
    : > "$WORK/results.jsonl"
  fi
done
wait "$PID" || { echo "expressway run failed:"; tail -20 "$WORK/soak.log"; exit 1; }
trap - EXIT
cat "$WORK/producer.log"
grep -o 'pipeline soak: .*' "$WORK/soak.log" || true

python3 - "$WORK/soak.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if len(rows) < 8:
    sys.exit(f"only {len(rows)} samples: run longer (at least 8 sample intervals)")
q = len(rows) // 4
flat = True
for column in ("rss_kb", "fds"):
    values = [float(r[column]) for r in rows]
    second, last = values[q:2 * q], values[-q:]
    a, b = sum(second) / len(second), sum(last) / len(last)
    growth = (b - a) / a * 100 if a else 0.0
    ok = b <= a * 1.10
    flat &= ok
    print(f"{column}: second quarter mean {a:.0f}, last quarter mean {b:.0f} ({growth:+.1f}%), "
          f"min {min(values):.0f}, max {max(values):.0f}: {'flat' if ok else 'GROWING'}")
print(f"{len(rows)} samples in {sys.argv[1]}: {'RSS and fds stayed flat' if flat else 'NOT flat'}")
sys.exit(0 if flat else 1)
PY
