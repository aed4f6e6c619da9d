#!/usr/bin/env bash
# Instructions per execution of a reference machine, counted by callgrind:
# deterministic where wall-clock numbers on a shared VM vary by ±15%, so it
# shows what a change did to the engine's work (not to stalls or atomics).
#
#   benches/instructions.sh target/release/expressway [iot-fanout|pass-chain|iot-fanout-jsonata]
#
# Runs `expressway bench` under callgrind twice (2 s and 6 s) and divides the
# difference in instructions by the difference in executions, which cancels
# start-up and compilation.
set -euo pipefail
bin=${1:?usage: benches/instructions.sh EXPRESSWAY_BIN [MACHINE]}
machine=${2:-iot-fanout}
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out.$1" "$bin" bench \
    --definition "benches/machines/$machine.asl.json" --input "benches/machines/$machine.input.json" \
    --seconds "$1" 2>&1 | grep -E '^executions:|Collected'
}
a=$(run 2)
b=$(run 6)
execs() { echo "$1" | awk '/^executions:/ {print $2}'; }
instr() { echo "$1" | awk '/Collected/ {print $NF}'; }
na=$(execs "$a"); nb=$(execs "$b"); ia=$(instr "$a"); ib=$(instr "$b")
echo "$machine: $(( (ib - ia) / (nb - na) )) instructions/execution ($na and $nb executions)"
