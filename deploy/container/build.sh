#!/usr/bin/env bash
# The shipped release binary, built with profile-guided optimisation: an
# instrumented build runs benches/pgo-train.sh, LLVM merges what it
# counted, and the release build inlines and lays out the code by it
# (benches/README.md, "Profile-guided release build"). The Containerfile's
# build stage runs it; the binary lands where a plain `cargo build
# --release` puts it, target/release/expressway (which a later plain
# release build replaces).
#
#   deploy/container/build.sh                    # PGO: two builds and a training run
#   EXPRESSWAY_PGO=0 deploy/container/build.sh   # one plain release build
#
# Needs llvm-profdata of the toolchain's LLVM: rustup's llvm-tools
# component, added here when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build() { cargo build --release --locked -p expressway "$@"; }
case "${EXPRESSWAY_PGO:-1}" in
  0 | false | no | off)
    build
    exit 0
    ;;
esac
if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
  echo "build.sh: CARGO_ENCODED_RUSTFLAGS is set and would replace the PGO flags; unset it" >&2
  exit 1
fi
rustc=${RUSTC:-rustc}
tools=$("$rustc" --print sysroot)/lib/rustlib/$("$rustc" -vV | sed -n 's/^host: //p')/bin
if [ ! -x "$tools/llvm-profdata" ]; then
  command -v rustup >/dev/null || {
    echo "build.sh: no $tools/llvm-profdata and no rustup to add llvm-tools; EXPRESSWAY_PGO=0 builds without PGO" >&2
    exit 1
  }
  rustup component add llvm-tools
fi
profiles=$PWD/target/pgo-profiles
rm -rf "$profiles"
mkdir -p "$profiles"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$profiles/raw" build --target-dir target/pgo-generate
benches/pgo-train.sh target/pgo-generate/release/expressway
"$tools/llvm-profdata" merge -o "$profiles/merged.profdata" "$profiles/raw"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$profiles/merged.profdata" build
