#!/usr/bin/env bash
# Writes a busybox rootfs tar (Debian's static /bin/busybox + applet links) to $1.
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$dir/bin/busybox"
for app in $("$dir/bin/busybox" --list); do
  [ "$app" = busybox ] || ln -s busybox "$dir/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
tar --numeric-owner -C "$dir" -cf "$out" .
