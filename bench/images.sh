#!/usr/bin/env bash
# Image store benchmark, berth vs a real dockerd (Debian's docker.io) in the same run:
#   load and save of a ~200 MB, 2000-file image, and the daemons' idle RSS.
# Usage: [BERTH=target/release/berth] bench/images.sh [SIZE_MB] [ROUNDS]   (root; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-200}
ROUNDS=${2:-3}
. bench/lib.sh
scripts/deps.sh
need_berth
W=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
trap stop_daemons EXIT

# dockerd on its own socket / data root / exec root
start_dockerd --bridge none --iptables=false
export DOCKER_HOST="unix://$W/d.sock"
start_berthd
sleep 2
DPID=$(cat "$W/d.pid")
CPID=$(pgrep -f "containerd --config $W/dexec" | head -1 || true)
[ -z "$CPID" ] && CPID=$(pgrep -P "$DPID" containerd | head -1 || true)
berth_idle=$(rss_kb "$BPID")
docker_idle=$(( $(rss_kb "$DPID") + ${CPID:+$(rss_kb "$CPID")}+0 ))

# A ~SIZE_MB image with 2000 files, made by dockerd and saved in its format.
big_image "$SIZE_MB"
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

DL=$(m "${dl[@]}"); DS=$(m "${ds[@]}"); BL=$(m "${bl[@]}"); BS=$(m "${bs[@]}")
printf '\nimage: %s MB archive, 2000 files; median of %s rounds\n' "$size" "$ROUNDS"
printf '%-28s %10s %10s %8s  %s\n' metric berth docker ratio target
printf '%-28s %9.3fs %9.3fs %8.2f  %s\n' "load" "$BL" "$DL" "$(echo "$BL / $DL" | bc -l)" "<= 0.30"
printf '%-28s %9.3fs %9.3fs %8.2f  %s\n' "save" "$BS" "$DS" "$(echo "$BS / $DS" | bc -l)" "<= 0.30"
printf '%-28s %8sMB %8sMB %8.2f  %s\n' "idle RSS (dockerd+containerd)" "$((berth_idle/1024))" "$((docker_idle/1024))" "$(echo "$berth_idle / $docker_idle" | bc -l)" "berth <= 14MB"
printf '%-28s %8sMB\n' "berth RSS after the runs" "$((berth_after/1024))"
