#!/usr/bin/env bash
# berth's main job end to end: install dependencies, build, start the daemon, import a
# busybox image made from Debian's busybox-static, list it and inspect it — with the
# berth CLI and with the real docker CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -p berth
BERTH=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_HOST=unix://$work/berth.sock
"$BERTH" daemon -H "$BERTH_HOST" --data-root "$work/root" 2>"$work/daemon.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$work/berth.sock" ] && break; sleep 0.05; done
scripts/busybox-rootfs.sh "$work/busybox.tar"
set -x
"$BERTH" version
"$BERTH" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox
"$BERTH" images
"$BERTH" inspect --format '{{.Id}} {{.RootFS.Layers}} {{json .Config.Cmd}}' busybox
"$BERTH" history busybox
"$BERTH" save -o "$work/busybox-saved.tar" busybox
"$BERTH" rmi busybox
"$BERTH" load -i "$work/busybox-saved.tar"
"$BERTH" system check
if command -v docker >/dev/null; then
  DOCKER_HOST=$BERTH_HOST docker images
  DOCKER_HOST=$BERTH_HOST docker inspect --format '{{.Id}}' busybox
fi
