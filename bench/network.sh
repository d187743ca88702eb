#!/usr/bin/env bash
# Networking benchmark, berth vs a real dockerd (Debian's docker.io on its own socket,
# data root, exec root and bridge; --iptables=false, so published ports go through
# docker's userland proxy, the anchor named by issue 4), in the same run:
#   - 1 GiB from a container through a published port to the host on 127.0.0.1
#     (target: berth >= 2x docker)
#   - 1 GiB container to container over the bridge
#   - `run --rm busybox true` with the default network vs `--network none`
#     (target: networking adds <= 5 ms)
# Traffic goes only to 127.0.0.1 and to the containers' own addresses.
# Usage: bench/network.sh [ROUNDS]    (root; builds berth in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-20}
SIZE=$((1024 * 1024 * 1024))
. bench/lib.sh
scripts/deps.sh
need_berth
W=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
cleanup() {
  for c in src dst; do
    B rm -f "$c" >/dev/null 2>&1 || true
    docker rm -f "$c" >/dev/null 2>&1 || true
  done
  stop_daemons
  ip link del berthbench0 2>/dev/null || true
}
trap cleanup EXIT

# dockerd gets its own bridge and subnet (none of the host's routes overlap it).
ip link add berthbench0 type bridge 2>/dev/null || true
ip addr add 10.231.0.1/24 dev berthbench0 2>/dev/null || true
ip link set berthbench0 up
start_dockerd --bridge berthbench0 --iptables=false --ip-masq=false
export DOCKER_HOST="unix://$W/d.sock"
start_berthd

scripts/busybox-rootfs.sh "$W/bb.tar"
docker import "$W/bb.tar" busybox:latest >/dev/null
B import "$W/bb.tar" busybox:latest >/dev/null

# A web server (busybox httpd, which sends files with sendfile) with a sparse SIZE-byte
# file, so neither side's tools are the bottleneck: the host reads with curl, another
# container with busybox wget.
SERVE="mkdir -p /www && truncate -s $SIZE /www/big && exec httpd -f -p 8000 -h /www"

# SIZE bytes from a published port, read on the host.
pull_host() { # port
  curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$1/big"
}
B run -d --name src -p 127.0.0.1:18500:8000 busybox sh -c "$SERVE" >/dev/null
docker run -d --name src -p 127.0.0.1:18501:8000 busybox sh -c "$SERVE" >/dev/null
for _ in $(seq 50); do curl -fs -o /dev/null -r 0-0 http://127.0.0.1:18500/big && curl -fs -o /dev/null -r 0-0 http://127.0.0.1:18501/big && break; sleep 0.1; done
pull_host 18500 >/dev/null; pull_host 18501 >/dev/null   # warm
BH=$(m "$(pull_host 18500)" "$(pull_host 18500)" "$(pull_host 18500)")
DH=$(m "$(pull_host 18501)" "$(pull_host 18501)" "$(pull_host 18501)")
# The ceiling of any published-port path on this host: the same curl and the same
# server with no network path between them at all (curl joins the container's network
# namespace and reads over its loopback: no veth, no NAT, no proxy).
SPID=$(B inspect -f '{{.State.Pid}}' src)
pull_lo() { nsenter -t "$SPID" -n curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:8000/big"; }
pull_lo >/dev/null
LH=$(m "$(pull_lo)" "$(pull_lo)" "$(pull_lo)")

# SIZE bytes container to container over the bridge (client started with exec).
B run -d --name dst busybox sleep 1000 >/dev/null
docker run -d --name dst busybox sleep 1000 >/dev/null
BIP=$(B inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' src)
DIP=$(docker inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' src)
pull_ctr() { # cli ip
  local t; t=$(now)
  "$@" >/dev/null || { echo "container-to-container transfer failed: $*" >&2; exit 1; }
  echo "$(now) - $t" | bc
}
CB=(B exec dst wget -q -O /dev/null "http://$BIP:8000/big")
CD=(docker exec dst wget -q -O /dev/null "http://$DIP:8000/big")
pull_ctr "${CB[@]}" >/dev/null; pull_ctr "${CD[@]}" >/dev/null
BC=$(m "$(pull_ctr "${CB[@]}")" "$(pull_ctr "${CB[@]}")" "$(pull_ctr "${CB[@]}")")
DC=$(m "$(pull_ctr "${CD[@]}")" "$(pull_ctr "${CD[@]}")" "$(pull_ctr "${CD[@]}")")

# Start latency: default network vs none.
B run --rm busybox true; B run --rm --network none busybox true
docker run --rm busybox true; docker run --rm --network none busybox true
declare -a bn bd dn dd
for _ in $(seq "$ROUNDS"); do
  t=$(now); B run --rm --network none busybox true; bn+=("$(echo "$(now) - $t" | bc)")
  t=$(now); B run --rm busybox true; bd+=("$(echo "$(now) - $t" | bc)")
  t=$(now); docker run --rm --network none busybox true; dn+=("$(echo "$(now) - $t" | bc)")
  t=$(now); docker run --rm busybox true; dd+=("$(echo "$(now) - $t" | bc)")
done
BN=$(m "${bn[@]}"); BD=$(m "${bd[@]}"); DN=$(m "${dn[@]}"); DD=$(m "${dd[@]}")

mbs() { echo "$SIZE / $1 / 1048576" | bc -l; }
printf '\nnetworking, berth vs docker (userland proxy for published ports), same run\n'
printf '%-44s %12s %12s %8s  %s\n' metric berth docker ratio target
printf '%-44s %8.0f MB/s %8.0f MB/s %8.2f  %s\n' "1 GiB published port -> host (127.0.0.1)" "$(mbs "$BH")" "$(mbs "$DH")" "$(echo "$DH / $BH" | bc -l)" ">= 2.00"
printf '%-44s %8.0f MB/s %8.0f MB/s %8.2f  %s\n' "  ceiling: curl in the container's netns (lo)" "$(mbs "$LH")" "$(mbs "$DH")" "$(echo "$DH / $LH" | bc -l)" "(no path at all)"
printf '%-44s %8.0f MB/s %8.0f MB/s %8.2f\n' "1 GiB container -> container (bridge)" "$(mbs "$BC")" "$(mbs "$DC")" "$(echo "$DC / $BC" | bc -l)"
printf '%-44s %10.1f ms %10.1f ms\n' "run --rm true, --network none (median)" "$(echo "$BN * 1000" | bc -l)" "$(echo "$DN * 1000" | bc -l)"
printf '%-44s %10.1f ms %10.1f ms\n' "run --rm true, default bridge (median)" "$(echo "$BD * 1000" | bc -l)" "$(echo "$DD * 1000" | bc -l)"
printf '%-44s %10.1f ms %10.1f ms  %s\n' "networking cost (bridge - none)" "$(echo "($BD - $BN) * 1000" | bc -l)" "$(echo "($DD - $DN) * 1000" | bc -l)" "berth <= 5 ms"
