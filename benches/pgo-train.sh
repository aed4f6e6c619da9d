#!/usr/bin/env bash
# The training run of the release build's profile-guided optimisation
# (deploy/container/build.sh): what the shipped binary is optimised for.
# Run by an instrumented binary it leaves the profile where the build asked
# (-Cprofile-generate); run by any other it is a smoke run, which CI makes
# (deploy/dev/stage-image.sh).
#
#   benches/pgo-train.sh EXPRESSWAY_BIN
#
# Only the repository's own work, so that a container build (which has no
# ../shared) and a build here train the same profile: the three reference
# machines in the engine's loop and through a two-shard file pipeline
# (parse, shards, sink writer), and the example machines compiled.
# benches/README.md ("Profile-guided release build") measures what it buys.
set -euo pipefail
bin=$(realpath "${1:?usage: benches/pgo-train.sh EXPRESSWAY_BIN}")
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
records=100000

for m in pass-chain iot-fanout iot-fanout-jsonata; do
  "$bin" bench --definition "benches/machines/$m.asl.json" --input "benches/machines/$m.input.json" \
    --seconds "${PGO_SECONDS:-2}" 2>&1 | grep -E '^executions/s'
done

for m in pass-chain iot-fanout; do
  # One input line, repeated (the image's build stage has no python).
  awk -v n="$records" '{ line = line $0 } END { for (i = 0; i < n; i++) print line }' \
    "benches/machines/$m.input.json" > "$work/$m.jsonl"
  cat > "$work/$m.yaml" <<YAML
pipelines:
  - name: $m
    state_machine: "$PWD/benches/machines/$m.asl.json"
    source: { type: file, path: "$work/$m.jsonl", checkpoint: "$work/$m.checkpoint" }
    sink: { type: file, path: "$work/$m.out.jsonl" }
    dead_letter: { type: file, path: "$work/$m.dead.jsonl" }
runtime: { shards: 2 }
YAML
  "$bin" run --config "$work/$m.yaml" --from-start 2>&1 \
    | grep -o "pipeline $m: $records executions ($records succeeded"
done

for d in config/examples/machines/*.asl.json; do
  "$bin" validate --type STANDARD --disassemble "$d" >/dev/null
done
