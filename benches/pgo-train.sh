#!/usr/bin/env bash
# The training run of the release build's profile-guided optimisation
# (deploy/container/build.sh): what the shipped binary is optimised for.
# Run by an instrumented binary it leaves the profile where the build asked
# (-Cprofile-generate); run by any other it is just a smoke run.
#
#   benches/pgo-train.sh EXPRESSWAY_BIN
#
# The work is the project's own, so the container build needs nothing else:
# the three reference machines in the engine's loop and through a file
# pipeline (parse, shards, sink writer), the example machines validated and
# compiled, and, where ../shared exists, the AWS-recorded conformance cases
# (720 varied machines: every state type, intrinsics, JSONata, errors).
# benches/README.md ("Profile-guided release build") measures what it buys,
# including on a machine left out of the training.
set -euo pipefail
bin=$(realpath "${1:?usage: benches/pgo-train.sh EXPRESSWAY_BIN}")
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for m in pass-chain iot-fanout iot-fanout-jsonata; do
  "$bin" bench --definition "benches/machines/$m.asl.json" --input "benches/machines/$m.input.json" \
    --seconds "${PGO_SECONDS:-2}" 2>&1 | grep -E '^executions/s'
done

for m in pass-chain iot-fanout; do
  python3 - "benches/machines/$m.input.json" "$work/$m.jsonl" <<'PY'
import sys
line = open(sys.argv[1]).read().strip() + "\n"
open(sys.argv[2], "w").write(line * 100000)
PY
  cat > "$work/$m.yaml" <<YAML
pipelines:
  - name: $m
    state_machine: $PWD/benches/machines/$m.asl.json
    source: { type: file, path: $work/$m.jsonl, checkpoint: $work/$m.checkpoint }
    sink: { type: file, path: $work/$m.out.jsonl }
    dead_letter: { type: file, path: $work/$m.dead.jsonl }
runtime: { shards: 2 }
YAML
  "$bin" run --config "$work/$m.yaml" --from-start 2>&1 | grep -o "pipeline $m: [0-9]* executions ([0-9]* succeeded"
done

for d in config/examples/machines/*.asl.json; do
  "$bin" validate --type STANDARD --disassemble "$d" >/dev/null
done

if [ -f ../shared/conformance/cases.jsonl ]; then
  "$bin" conformance --out "$work/cases.jsonl" ../shared/conformance/cases.jsonl
  "$bin" conformance --out "$work/validation.jsonl" ../shared/conformance/validation_cases.jsonl
else
  echo "pgo-train: conformance cases SKIPPED: ../shared/conformance does not exist here"
fi
