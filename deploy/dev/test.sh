#!/usr/bin/env bash
# The whole suite, exactly as CI runs it: installs and starts the test
# servers, then formatting, lints, every test, and the AWS-recorded
# conformance floor where ../shared exists.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Each step's header says how long the suite has run, so a slow step shows
# in CI's log (its budget: under 60 minutes in all).
step() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# Conformance floors: strict passes when this was last raised. Raise them
# when conformance improves; CI fails if it ever drops below.
CASES_FLOOR=714
VALIDATION_FLOOR=171
# The same cases through the Step Functions API (boto3 against `expressway
# serve`).
API_CASES_FLOOR=700

step "test servers (Redis, a Kafka-protocol broker, an AWS emulator) and the deployment checkers"
./deploy/dev/services.sh install
./deploy/dev/services.sh start
set -a; . target/services.env; set +a
# Tests make their files under one directory of this run (Rust's temp_dir,
# Python's tempfile and mktemp all read TMPDIR): removed when the suite
# passes, kept for a look when it fails, never left to pile up in /tmp.
export TMPDIR="$PWD/target/test-tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
finish() {
  local status=$?
  ./deploy/dev/services.sh stop
  if [ "$status" -eq 0 ]; then rm -rf "$TMPDIR"; else echo "the tests' files are kept in $TMPDIR"; fi
}
trap finish EXIT

step "the engine's dependencies (pure: no threads, clocks, channels, networking, logging, metrics)"
./deploy/dev/engine-purity.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (profile ci, all targets, -D warnings)"
cargo clippy --profile ci --workspace --all-targets --locked -- -D warnings

step "cargo test (profile ci: release without LTO; also builds target/ci/expressway)"
cargo test --profile ci --workspace --locked

step "fuzz slice (libFuzzer on nightly: every saved crash replayed, then each target 20 s from the committed seeds)"
OFFLINE= ./benches/fuzz.sh ci 20

BIN=target/ci/expressway
step "validate the reference machines"
for m in benches/machines/*.asl.json; do
  "$BIN" validate "$m"
done

step "the web console in headless Chromium (screenshots in target/artifacts/console)"
python3 deploy/dev/console-browser.py "$BIN" --out target/artifacts/console

step "deploy/: Helm chart, Prometheus rules and a live Prometheus, Grafana dashboard, container image"
EXPRESSWAY_BIN=$BIN ./deploy/dev/check-deploy.sh

SHARED=../shared/conformance
if [ -d "$SHARED" ]; then
  step "conformance floor (AWS-recorded cases in $SHARED)"
  out=$(mktemp -d)
  "$BIN" conformance "$SHARED/cases.jsonl" --out "$out/cases.jsonl"
  python3 "$SHARED/run.py" --judge "$out/cases.jsonl" --min-strict "$CASES_FLOOR" | grep -E "^(ALL|kind:|jsonpath|jsonata|strict passes|FAIL)"
  "$BIN" conformance "$SHARED/validation_cases.jsonl" --out "$out/validation.jsonl"
  python3 "$SHARED/run.py" --judge "$out/validation.jsonl" --cases "$SHARED/validation_cases.jsonl" --min-strict "$VALIDATION_FLOOR" \
    | grep -E "^(ALL|strict passes|FAIL)"
  step "conformance floor through the Step Functions API (boto3 against expressway serve, MockConfigFile answers)"
  CLIENTS_PYTHON=target/services/clients-venv/bin/python
  "$CLIENTS_PYTHON" deploy/dev/conformance-api.py "$SHARED/cases.jsonl" --bin "$BIN" --out "$out/api-cases.jsonl" \
    --diff "$out/cases.jsonl"
  python3 "$SHARED/run.py" --judge "$out/api-cases.jsonl" --min-strict "$API_CASES_FLOOR" \
    | grep -E "^(ALL|kind:|strict passes|FAIL)"
  "$CLIENTS_PYTHON" deploy/dev/conformance-api.py "$SHARED/validation_cases.jsonl" --bin "$BIN" \
    --out "$out/api-validation.jsonl" --diff "$out/validation.jsonl"
  python3 "$SHARED/run.py" --judge "$out/api-validation.jsonl" --cases "$SHARED/validation_cases.jsonl" \
    --min-strict "$VALIDATION_FLOOR" | grep -E "^(ALL|strict passes|FAIL)"
else
  step "conformance floor SKIPPED: $SHARED does not exist here (it does in CI)"
fi

# The suite ran (and held its floor) in `cargo test`; show its table.
if [ -d ../shared/jsonata-suite ]; then
  step "JSONata test suite, per group (floor enforced in engine/tests/jsonata_suite.rs)"
  cargo test --profile ci --locked --workspace --test jsonata_suite -q -- --nocapture 2>/dev/null \
    | grep -E "^(JSONata suite|  [a-z])"
else
  step "JSONata test suite SKIPPED: ../shared/jsonata-suite does not exist here (it does in CI)"
fi
step "all checks passed"
