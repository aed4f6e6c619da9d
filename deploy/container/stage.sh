#!/bin/sh
# Lay out the image's files under OUT: the binary, and the shared libraries
# it needs beyond what the runtime base (distroless cc: glibc, libgcc) has.
# The Containerfile runs this in its build stage; deploy/dev/check-deploy.sh
# runs it too, then starts the staged binary in a chroot of that layout.
#   deploy/container/stage.sh OUT BINARY
set -eu
out=$1
bin=$2
install -D -m 0755 "$bin" "$out/usr/local/bin/expressway"
for lib in $(ldd "$bin" | awk '$3 ~ /^\// { print $3 }'); do
  case "$(basename "$lib")" in
    libc.so.* | libm.so.* | libgcc_s.so.* | libdl.so.* | libpthread.so.* | librt.so.* | ld-linux*) ;;
    *) install -D -m 0644 "$lib" "$out$(dirname "$(readlink -f "$lib")")/$(basename "$lib")" ;;
  esac
done
install -d -m 0755 "$out/etc/expressway"
