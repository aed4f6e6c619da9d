#!/usr/bin/env bash
# Step Functions API benchmark: StartSyncExecution over keep-alive HTTP/1.1,
# driven by wrk, against `expressway serve` and (optionally) ministack's
# Step Functions emulation with the same client.
#   benches/api.sh [BIN]     BIN: the expressway binary (default target/release/expressway)
# Needs wrk (Debian: apt-get install -y wrk), curl and python3.
# Environment:
#   CONNECTIONS="1 8 64"      keep-alive connections per run
#   DURATION=10s              each expressway run
#   MINISTACK_ENDPOINT=http://127.0.0.1:4566   ("" skips ministack; start it
#                             with deploy/dev/services.sh start)
#   MINISTACK_DURATION=5s     each ministack run (it takes ~100-400 ms per execution)
#   NICE=-10                  run the server and wrk at this niceness (root; a shared VM's builds
#                             otherwise take the CPU from under the measurement)
#   HALF_RATE=1               also run (a) at 64 connections paced to half the measured maximum
# Each run must answer 200 with "status":"SUCCEEDED" every time: the script fails otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$PWD/target/release/expressway}
CONNECTIONS=${CONNECTIONS:-1 8 64}
DURATION=${DURATION:-10s}
MINISTACK_ENDPOINT=${MINISTACK_ENDPOINT-http://127.0.0.1:4566}
MINISTACK_DURATION=${MINISTACK_DURATION:-5s}
HALF_RATE=${HALF_RATE:-1}
PRIORITY=()
[ -z "${NICE:-}" ] || PRIORITY=(nice -n "$NICE")
LUA=$PWD/benches/api-start-sync.lua
MACHINES="pass-chain iot-fanout"
# ministack routes on X-Amz-Target alone; this fixed header (the SigV4 shape
# naming the `states` service) is only sent to it, for emulators that route on
# the credential scope. expressway checks no signature without api.credentials.
MINISTACK_AUTHORIZATION=${MINISTACK_AUTHORIZATION:-"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/states/aws4_request, SignedHeaders=host, Signature=0"}

if ! command -v wrk >/dev/null; then
  echo "wrk is missing: apt-get install -y wrk" >&2
  exit 1
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# call ENDPOINT OPERATION JSON [AUTHORIZATION] -> prints the response body; fails on non-200
call() {
  local auth=()
  [ -z "${4:-}" ] || auth=(-H "Authorization: $4")
  curl -sS --fail-with-body -X POST "$1/" -H "Content-Type: application/x-amz-json-1.0" \
    -H "X-Amz-Target: AWSStepFunctions.$2" "${auth[@]}" --data-binary "$3"
}

# create ENDPOINT NAME MACHINE [AUTHORIZATION] -> prints the new machine's ARN
create() {
  local body
  body=$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1],
    "definition": open(sys.argv[2]).read(), "roleArn": "arn:aws:iam::123456789012:role/r",
    "type": "EXPRESS"}))' "$2" "benches/machines/$3.asl.json")
  call "$1" CreateStateMachine "$body" "${4:-}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["stateMachineArn"])'
}

# drive URL ARN MACHINE CONNECTIONS DURATION [AUTHORIZATION] [DELAY_MS]
# -> prints "req/s p50 p99" (wrk's units), fails if any response was not a success
drive() {
  local threads=2 out="$WORK/wrk.out"
  [ "$4" -gt 1 ] || threads=1
  echo "# $(uptime | sed 's/.*load/load/')  wrk -t$threads -c$4 -d$5 --latency${7:+ (API_DELAY_MS=$7)} $3" >&2
  API_MACHINE_ARN=$2 API_INPUT_FILE=benches/machines/$3.input.json API_AUTHORIZATION=${6:-} \
    API_DELAY_MS=${7:-} "${PRIORITY[@]}" wrk -t"$threads" -c"$4" -d"$5" --latency -s "$LUA" "$1/" > "$out"
  if ! grep -q '^CHECKED [0-9]* responses: 0 not 200, 0 without SUCCEEDED, 0 socket errors' "$out" \
    || grep -q 'Non-2xx' "$out"; then
    cat "$out" >&2
    echo "FAILED: not every response was a 200 SUCCEEDED" >&2
    return 1
  fi
  awk '/^Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print rps, p50, p99}' "$out"
}

wait_for_port() {
  for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${PRIORITY[@]}" "$BIN" serve --address "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!
wait_for_port "$PORT"
EXPRESSWAY=http://127.0.0.1:$PORT

declare -A RESULT MINISTACK_RPS
for machine in $MACHINES; do
  arn=$(create "$EXPRESSWAY" "$machine" "$machine")
  for c in $CONNECTIONS; do
    RESULT[$machine/$c]=$(drive "$EXPRESSWAY" "$arn" "$machine" "$c" "$DURATION")
  done
done

HALF=
if [ "$HALF_RATE" = 1 ] && [[ " $CONNECTIONS " == *" 64 "* ]]; then
  read -r max_rps _ <<< "${RESULT[pass-chain/64]}"
  # 64 connections each pausing so that together they offer half the maximum
  # (wrk has no -R; wrk2, which has, is not packaged): a 3 s probe measures what
  # each request adds to its connection's cycle besides the pause, and the pause is set from it.
  target=$(python3 -c "print($max_rps / 2)")
  delay=$(python3 -c "print(round(64 * 1000 / $target, 3))")
  arn=arn:aws:states:us-east-1:123456789012:stateMachine:pass-chain
  read -r probe _ <<< "$(drive "$EXPRESSWAY" "$arn" pass-chain 64 3s "" "$delay")"
  delay=$(python3 -c "print(max(0.0, round(64 * 1000 / $target - (64 * 1000 / $probe - $delay), 3)))")
  HALF="$(drive "$EXPRESSWAY" "$arn" pass-chain 64 "$DURATION" "" "$delay") $delay"
fi

if [ -n "$MINISTACK_ENDPOINT" ]; then
  for machine in $MACHINES; do
    name=bench-$machine-$$
    arn=$(create "$MINISTACK_ENDPOINT" "$name" "$machine" "$MINISTACK_AUTHORIZATION")
    for c in $CONNECTIONS; do
      read -r rps _ <<< "$(drive "$MINISTACK_ENDPOINT" "$arn" "$machine" "$c" "$MINISTACK_DURATION" "$MINISTACK_AUTHORIZATION")"
      MINISTACK_RPS[$machine/$c]=$rps
    done
    call "$MINISTACK_ENDPOINT" DeleteStateMachine "{\"stateMachineArn\":\"$arn\"}" "$MINISTACK_AUTHORIZATION" > /dev/null
  done
fi

echo
echo "| machine | connections | req/s | p50 | p99 | ministack req/s | ratio |"
echo "|---|---|---|---|---|---|---|"
for machine in $MACHINES; do
  for c in $CONNECTIONS; do
    read -r rps p50 p99 <<< "${RESULT[$machine/$c]}"
    ms=${MINISTACK_RPS[$machine/$c]:-}
    ratio=
    [ -z "$ms" ] || ratio=$(python3 -c "print('%.0f×' % ($rps / $ms))")
    echo "| $machine | $c | $rps | $p50 | $p99 | ${ms:--} | ${ratio:--} |"
  done
done
if [ -n "$HALF" ]; then
  read -r rps p50 p99 delay <<< "$HALF"
  echo
  echo "pass-chain, 64 connections paced to half of ${RESULT[pass-chain/64]%% *} req/s (API_DELAY_MS=$delay): $rps req/s, p50 $p50, p99 $p99"
fi
