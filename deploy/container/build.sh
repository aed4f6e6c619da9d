#!/usr/bin/env bash
# The shipped release binary, built with profile-guided optimisation: an
# instrumented build runs benches/pgo-train.sh, LLVM merges what it
# counted, and the release build lays out and inlines the code by it
# (machine (b), left out of a training run: 9% fewer instructions, 8% more
# executions per second; benches/README.md, "Profile-guided release build").
# The Containerfile's build stage runs it; the binary lands where a plain
# `cargo build --release` puts it, target/release/expressway.
#
#   deploy/container/build.sh            # PGO (two builds and a training run)
#   EXPRESSWAY_PGO=0 deploy/container/build.sh   # one plain release build
#
# Needs llvm-profdata of the toolchain's LLVM (`rustup component add
# llvm-tools`, done here when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
build() { cargo build --release --locked -p expressway "$@"; }
if [ "${EXPRESSWAY_PGO:-1}" = 0 ]; then
  build
  exit 0
fi
tools=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
[ -x "$tools/llvm-profdata" ] || rustup component add llvm-tools
profiles=$PWD/target/pgo-profiles
rm -rf "$profiles"
mkdir -p "$profiles"
RUSTFLAGS="-Cprofile-generate=$profiles/raw" build --target-dir target/pgo-generate
benches/pgo-train.sh target/pgo-generate/release/expressway
"$tools/llvm-profdata" merge -o "$profiles/merged.profdata" "$profiles/raw"
RUSTFLAGS="-Cprofile-use=$profiles/merged.profdata" build
