#!/usr/bin/env bash
# Image store benchmark, berth vs a real dockerd (Debian's docker.io) in the same run:
#   load and save of a ~200 MB, 2000-file image, and the daemons' idle RSS.
# Usage: bench/images.sh [SIZE_MB] [ROUNDS]     (root; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-200}
ROUNDS=${2:-3}
scripts/deps.sh
cargo build --release -p berth >/dev/null 2>&1
BERTH=$PWD/target/release/berth
W=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
cleanup() {
  [ -n "${BPID:-}" ] && kill "$BPID" 2>/dev/null || true
  [ -f "$W/d.pid" ] && kill "$(cat "$W/d.pid")" 2>/dev/null || true
  sleep 2; rm -rf "$W" 2>/dev/null || true
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# dockerd on its own socket / data root / exec root
dockerd --host "unix://$W/d.sock" --data-root "$W/ddata" --exec-root "$W/dexec" --pidfile "$W/d.pid" \
  --bridge none --iptables=false >"$W/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$W/d.sock"
for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
"$BERTH" daemon -H "unix://$W/b.sock" --data-root "$W/broot" 2>"$W/berth.log" &
BPID=$!
for _ in $(seq 100); do [ -S "$W/b.sock" ] && break; sleep 0.05; done
B() { BERTH_HOST="unix://$W/b.sock" "$BERTH" "$@"; }
sleep 2
DPID=$(cat "$W/d.pid")
CPID=$(pgrep -f "containerd --config $W/dexec" | head -1 || true)
[ -z "$CPID" ] && CPID=$(pgrep -P "$DPID" containerd | head -1 || true)
berth_idle=$(rss_kb "$BPID")
docker_idle=$(( $(rss_kb "$DPID") + ${CPID:+$(rss_kb "$CPID")}+0 ))

# A ~SIZE_MB image with 2000 files, made by dockerd and saved in its format.
mkdir -p "$W/rootfs/data"
scripts/busybox-rootfs.sh "$W/bb.tar"
tar -C "$W/rootfs" -xf "$W/bb.tar"
per=$(( SIZE_MB * 1024 * 1024 / 2000 ))
for i in $(seq 2000); do head -c "$per" /dev/urandom > "$W/rootfs/data/f$i"; done
tar -C "$W/rootfs" -cf "$W/big-rootfs.tar" .
docker import "$W/big-rootfs.tar" big:1 >/dev/null
docker save -o "$W/big.tar" big:1
size=$(du -m "$W/big.tar" | cut -f1)

declare -a dl ds bl bs
docker_round() {
  docker rmi big:1 >/dev/null
  t=$(now); docker load -i "$W/big.tar" >/dev/null; dl+=("$(echo "$(now) - $t" | bc)")
  t=$(now); docker save -o "$W/d-out.tar" big:1; ds+=("$(echo "$(now) - $t" | bc)")
  rm -f "$W/d-out.tar"
}
berth_round() {
  B rmi big:1 >/dev/null 2>&1 || true
  t=$(now); B load -i "$W/big.tar" >/dev/null; bl+=("$(echo "$(now) - $t" | bc)")
  t=$(now); B save -o "$W/b-out.tar" big:1; bs+=("$(echo "$(now) - $t" | bc)")
  rm -f "$W/b-out.tar"
}
# Each engine goes first in every other round: the one that runs second inherits the
# first one's writeback and background work (containerd's, or berth's deferred flush).
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then docker_round; berth_round; else berth_round; docker_round; fi
done
B system check >/dev/null
[ "$(B inspect --format '{{.Id}}' big:1)" = "$(docker inspect --format '{{.Id}}' big:1)" ] || { echo "image IDs differ" >&2; exit 1; }
berth_after=$(rss_kb "$BPID")

m() { printf '%s\n' "$@" | median; }
DL=$(m "${dl[@]}"); DS=$(m "${ds[@]}"); BL=$(m "${bl[@]}"); BS=$(m "${bs[@]}")
printf '\nimage: %s MB archive, 2000 files; median of %s rounds\n' "$size" "$ROUNDS"
printf '%-28s %10s %10s %8s  %s\n' metric berth docker ratio target
printf '%-28s %9.3fs %9.3fs %8.2f  %s\n' "load" "$BL" "$DL" "$(echo "$BL / $DL" | bc -l)" "<= 0.30"
printf '%-28s %9.3fs %9.3fs %8.2f  %s\n' "save" "$BS" "$DS" "$(echo "$BS / $DS" | bc -l)" "<= 0.30"
printf '%-28s %8sMB %8sMB %8.2f  %s\n' "idle RSS (dockerd+containerd)" "$((berth_idle/1024))" "$((docker_idle/1024))" "$(echo "$berth_idle / $docker_idle" | bc -l)" "berth <= 14MB"
printf '%-28s %8sMB\n' "berth RSS after the runs" "$((berth_after/1024))"
