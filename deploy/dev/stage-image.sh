#!/usr/bin/env bash
# The image's build steps without a container engine: stage the binary as
# deploy/Containerfile does (deploy/container/stage.sh), add what the
# distroless cc base holds (glibc, libgcc, CA certificates, the nonroot
# user), then start the staged entry point in a chroot of that root, as
# USER 65532, and require /healthz to answer. Needs root (chroot).
#   deploy/dev/stage-image.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$1
root=$(mktemp -d)
chmod 755 "$root"
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  mountpoint -q "$root/proc" && umount "$root/proc"
  rm -rf "$root"
}
trap cleanup EXIT
containerfile=deploy/Containerfile
grep -q '^RUN EXPRESSWAY_PGO=${EXPRESSWAY_PGO} deploy/container/build.sh' "$containerfile"
grep -q 'deploy/container/stage.sh /out target/release/expressway' "$containerfile"
user=$(sed -n 's/^USER //p' "$containerfile")
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)"\]/\1/p' "$containerfile")
[ "$user" = "65532:65532" ] && [ -n "$entry" ]

# The build stage's steps: the profile-guided build script parses, and its
# training run works (CI does not make the two release builds around it:
# plain `cargo build --release` with a RUSTFLAGS flag each), then staging.
bash -n deploy/container/build.sh
PGO_SECONDS=1 benches/pgo-train.sh "$bin" > "$root.train.log" 2>&1 || { cat "$root.train.log"; rm -f "$root.train.log"; exit 1; }
rm -f "$root.train.log"
deploy/container/stage.sh "$root" "$bin"
# The base image: the C runtime the binary links, certificates, a /tmp.
for lib in $(ldd "$bin" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'); do
  case "$(basename "$lib")" in
    libc.so.* | libm.so.* | libgcc_s.so.* | libdl.so.* | libpthread.so.* | librt.so.*) install -D -m 0644 "$lib" "$root$lib" ;;
    ld-linux*) install -D -m 0755 "$lib" "$root$lib" ;;
  esac
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
install -d -m 1777 "$root/tmp"
# The container runtime mounts /proc (process_* metrics read it).
install -d -m 0555 "$root/proc"
mount -t proc proc "$root/proc"
echo "staged: $(cd "$root" && find . -path ./proc -prune -o -type f -print | sort | tr '\n' ' ')"

chroot --userspec="$user" "$root" "$entry" --version
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$root/etc/expressway/pipeline.yaml" <<YAML
pipelines:
  - name: staged
    state_machine: machine.asl.json
    source: { type: file, path: /tmp/input.jsonl, follow: true }
    sink: { type: file, path: /tmp/output.jsonl }
    dead_letter: { type: file, path: /tmp/dead.jsonl }
metrics: { address: "127.0.0.1:$port" }
YAML
echo '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}' > "$root/etc/expressway/machine.asl.json"
echo '{"id": 1}' > "$root/tmp/input.jsonl"
chmod 666 "$root/tmp/input.jsonl"
chroot --userspec="$user" "$root" "$entry" run --config /etc/expressway/pipeline.yaml > "$root.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$root.log"; exit 1; }
  sleep 0.1
done
[ "$(curl -sf "http://127.0.0.1:$port/healthz")" = ok ]
curl -sf "http://127.0.0.1:$port/metrics" > "$root.metrics"
for series in '^process_resident_memory_bytes [1-9]' '^process_cpu_seconds_total ' '^process_open_fds [1-9]' \
  '^process_start_time_seconds [1-9]' '^expressway_build_info{.*commit="[0-9a-f]\{7,\}"} 1$'; do
  grep -q "$series" "$root.metrics" || { echo "no $series in /metrics"; cat "$root.metrics"; exit 1; }
done
rm -f "$root.metrics"
for _ in $(seq 100); do
  [ -s "$root/tmp/output.jsonl" ] && break
  sleep 0.1
done
[ -s "$root/tmp/output.jsonl" ] || { echo "the staged binary wrote no result"; cat "$root.log"; exit 1; }
echo "staged $entry runs as $user in a chroot: /healthz ok, a record executed"
rm -f "$root.log"
