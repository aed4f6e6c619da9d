#!/usr/bin/env bash
# The whole suite, exactly as CI runs it: installs and starts the test
# servers, then formatting, lints, every test, and the AWS-recorded
# conformance floor where ../shared exists.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Conformance floors: strict passes when this was last raised. Raise them
# when conformance improves; CI fails if it ever drops below.
CASES_FLOOR=714
VALIDATION_FLOOR=169
# The same cases through the Step Functions API (boto3 against `expressway
# serve`).
API_CASES_FLOOR=700

echo "== test servers (Redis, a Kafka-protocol broker, an AWS emulator) and the deployment checkers"
./deploy/dev/services.sh install
./deploy/dev/services.sh start
set -a; . target/services.env; set +a
trap './deploy/dev/services.sh stop' EXIT

echo "== the engine's dependencies (pure: no threads, clocks, channels, networking, logging, metrics)"
./deploy/dev/engine-purity.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (release, all targets, -D warnings)"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

echo "== cargo test (release; also builds target/release/expressway)"
cargo test --release --workspace --locked

echo "== fuzz slice (libFuzzer on nightly: every saved crash replayed, then each target 20 s from the committed seeds)"
OFFLINE= ./benches/fuzz.sh ci 20

BIN=target/release/expressway
echo "== validate the reference machines"
for m in benches/machines/*.asl.json; do
  "$BIN" validate "$m"
done

echo "== the web console in headless Chromium (screenshots in target/artifacts/console)"
python3 deploy/dev/console-browser.py "$BIN" --out target/artifacts/console

echo "== deploy/: Helm chart, Prometheus rules and a live Prometheus, Grafana dashboard, container image"
./deploy/dev/check-deploy.sh

SHARED=../shared/conformance
if [ -d "$SHARED" ]; then
  echo "== conformance floor (AWS-recorded cases in $SHARED)"
  out=$(mktemp -d)
  "$BIN" conformance "$SHARED/cases.jsonl" --out "$out/cases.jsonl"
  python3 "$SHARED/run.py" --judge "$out/cases.jsonl" --min-strict "$CASES_FLOOR" | grep -E "^(ALL|kind:|jsonpath|jsonata|strict passes|FAIL)"
  "$BIN" conformance "$SHARED/validation_cases.jsonl" --out "$out/validation.jsonl"
  python3 "$SHARED/run.py" --judge "$out/validation.jsonl" --cases "$SHARED/validation_cases.jsonl" --min-strict "$VALIDATION_FLOOR" \
    | grep -E "^(ALL|strict passes|FAIL)"
  echo "== conformance floor through the Step Functions API (boto3 against expressway serve, MockConfigFile answers)"
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
  echo "== conformance floor SKIPPED: $SHARED does not exist here (it does in CI)"
fi

# The suite ran (and held its floor) in `cargo test`; show its table.
if [ -d ../shared/jsonata-suite ]; then
  echo "== JSONata test suite, per group (floor enforced in engine/tests/jsonata_suite.rs)"
  cargo test --release --locked --workspace --test jsonata_suite -q -- --nocapture 2>/dev/null \
    | grep -E "^(JSONata suite|  [a-z])"
else
  echo "== JSONata test suite SKIPPED: ../shared/jsonata-suite does not exist here (it does in CI)"
fi
echo "== all checks passed"
