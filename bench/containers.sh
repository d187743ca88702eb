#!/usr/bin/env bash
# Container lifecycle benchmark through the CLIs, berth vs a real dockerd (Debian's
# docker.io, its own socket/data root/exec root), round-robin in the same run:
#   - `run --rm busybox true` end to end           (target: berth <= 0.10x docker)
#   - `run -d busybox sleep 1000` + `stop` + `rm`  (target: berth <= 0.15x docker)
#   - RSS of a shim per running container (berth) vs containerd-shim (docker).
#   (both with --network none: the anchor dockerd runs with --bridge none; see
#   bench/network.sh for what the default network adds)
# Usage: bench/containers.sh [ROUNDS]    (root; builds berth in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
. bench/lib.sh
scripts/deps.sh
need_berth
W=$(mktemp -d /tmp/berth-bench-ctr.XXXXXX)
cleanup() {
  B rm -f rss1 >/dev/null 2>&1 || true
  docker rm -f rss1 >/dev/null 2>&1 || true
  stop_daemons
}
trap cleanup EXIT

start_dockerd --bridge none --iptables=false
export DOCKER_HOST="unix://$W/d.sock"
start_berthd

scripts/busybox-rootfs.sh "$W/bb.tar"
docker import "$W/bb.tar" busybox:latest >/dev/null
B import "$W/bb.tar" busybox:latest >/dev/null
# Warm both (first run pays one-off costs on both sides).
docker run --rm --network none busybox true; B run --rm --network none busybox true

# A container that exits on SIGTERM (a plain `sleep` as PID 1 ignores it, and stop would
# measure the 10 s timeout instead of the lifecycle).
TERMINABLE='trap "exit 0" TERM; sleep 1000 & wait'
declare -a brm drm bds dds
for _ in $(seq "$ROUNDS"); do
  t=$(now); B run --rm --network none busybox true; brm+=("$(echo "$(now) - $t" | bc)")
  t=$(now); docker run --rm --network none busybox true; drm+=("$(echo "$(now) - $t" | bc)")
  t=$(now); id=$(B run -d --network none busybox sh -c "$TERMINABLE"); B stop "$id" >/dev/null; B rm "$id" >/dev/null
  bds+=("$(echo "$(now) - $t" | bc)")
  t=$(now); id=$(docker run -d --network none busybox sh -c "$TERMINABLE"); docker stop "$id" >/dev/null; docker rm "$id" >/dev/null
  dds+=("$(echo "$(now) - $t" | bc)")
done

# Per-container RSS: berth's shim vs docker's containerd-shim.
B run -d --name rss1 --network none busybox sleep 1000 >/dev/null
docker run -d --name rss1 --network none busybox sleep 1000 >/dev/null
sleep 1
# The shim is the parent of the container's init on both sides.
ppid_of() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null; }
bshim=$(ppid_of "$(B inspect -f '{{.State.Pid}}' rss1)")
dshim=$(ppid_of "$(docker inspect -f '{{.State.Pid}}' rss1)")
bss=$([ -n "$bshim" ] && rss_kb "$bshim" || echo 0)
dss=$([ -n "$dshim" ] && rss_kb "$dshim" || echo 0)

BRM=$(m "${brm[@]}"); DRM=$(m "${drm[@]}"); BDS=$(m "${bds[@]}"); DDS=$(m "${dds[@]}")
printf '\ncontainers through the CLI, median of %s rounds (both with --network none)\n' "$ROUNDS"
printf '%-28s %10s %10s %8s  %s\n' metric berth docker ratio target
printf '%-28s %9.3fs %9.3fs %8.2f  %s\n' "run --rm busybox true" "$BRM" "$DRM" "$(echo "$BRM / $DRM" | bc -l)" "<= 0.10"
printf '%-28s %9.3fs %9.3fs %8.2f  %s\n' "run -d + stop + rm" "$BDS" "$DDS" "$(echo "$BDS / $DDS" | bc -l)" "<= 0.15"
printf '%-28s %8sKB %8sKB %8.2f\n' "shim RSS per container" "$bss" "$dss" "$(echo "$bss / ($dss + 0.001)" | bc -l)"
