#!/usr/bin/env bash
# Install, start and stop the servers the tests need, on a fresh machine with
# no Docker engine. Endpoints are written to target/services.env, which
# deploy/dev/test.sh sources.
#   deploy/dev/services.sh install|start|stop
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=$PWD/target/services
ENV_FILE=$PWD/target/services.env
REDIS_PORT=${EXPRESSWAY_REDIS_PORT:-6390}

install() {
  if ! command -v redis-server >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  redis-server --version
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
  echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/" > "$ENV_FILE"
  echo "services up: $(cat "$ENV_FILE")"
}

stop() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -f "$ENV_FILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
