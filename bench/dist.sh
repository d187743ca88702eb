#!/usr/bin/env bash
# Distribution benchmark, berth vs a real dockerd (Debian's docker.io) in the same run,
# against the same registry software (Debian's docker-registry 2.8, one fresh instance
# per engine so neither sees the other's blobs): push and pull of a ~200 MB, 2000-file
# image (busybox + 2000 files of random bytes, made by `docker import`, `docker save`d
# and loaded into berth, so both push the same image).
#   push: local image → registry (compression included); pull: rmi, then pull back
#   (download, verify, unpack, commit). MB/s = image size (uncompressed) / wall time.
# Anchor (issue 7): docker push 37 MB/s, pull 71 MB/s on this machine; target >= 4x each.
# Usage: bench/dist.sh [SIZE_MB] [ROUNDS]     (root; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-200}
ROUNDS=${2:-3}
. bench/lib.sh
scripts/deps.sh >/dev/null
# BERTH=path (or BERTH_BIN=path) skips the build (e.g. when another build holds the
# cargo lock).
BERTH=${BERTH:-${BERTH_BIN:-}}
need_berth
W=$(mktemp -d /tmp/berth-bench-dist.XXXXXX)
cleanup() {
  [ -n "${R1:-}" ] && kill "$R1" 2>/dev/null || true
  [ -n "${R2:-}" ] && kill "$R2" 2>/dev/null || true
  stop_daemons
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

registry() { # name port -> pid
  registry_config "$W/$1" "$2"
  docker-registry serve "$W/$1/config.yml" >"$W/$1/log" 2>&1 &
  echo $!
}

export DOCKER_HOST="unix://$W/d.sock"
export DOCKER_CONFIG="$W/docker-config"
start_dockerd --bridge none --iptables=false
start_berthd

# The image: busybox + 2000 random files, made by dockerd, loaded into berth.
big_image "$SIZE_MB"
docker save -o "$W/big.tar" big:1
B load -i "$W/big.tar" >/dev/null
size_mb=$(du -m "$W/big-rootfs.tar" | cut -f1)
rm -f "$W/big-rootfs.tar"

declare -a dpu dpl bpu bpl bre
for r in $(seq "$ROUNDS"); do
  P1=$(free_port); R1=$(registry "reg-docker-$r" "$P1")
  P2=$(free_port); R2=$(registry "reg-berth-$r" "$P2")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P1/v2/" >/dev/null && curl -sf "http://127.0.0.1:$P2/v2/" >/dev/null && break; sleep 0.05; done
  docker tag big:1 "127.0.0.1:$P1/big:1"
  B tag big:1 "127.0.0.1:$P2/big:1"
  # The engines take turns going first, and each timed step starts on a settled machine
  # (written back, and 2 s for the other daemon's background work: containerd's garbage
  # collection after an rmi, berth's deferred layer flush).
  settle() { sync; sleep 2; }
  push_d() { settle; t=$(now); docker push -q "127.0.0.1:$P1/big:1" >/dev/null; dpu+=("$(echo "$(now) - $t" | bc)"); }
  push_b() { settle; t=$(now); B push -q "127.0.0.1:$P2/big:1" >/dev/null; bpu+=("$(echo "$(now) - $t" | bc)"); }
  pull_d() { settle; t=$(now); docker pull -q "127.0.0.1:$P1/big:1" >/dev/null; dpl+=("$(echo "$(now) - $t" | bc)"); }
  pull_b() { settle; t=$(now); B pull -q "127.0.0.1:$P2/big:1" >/dev/null; bpl+=("$(echo "$(now) - $t" | bc)"); }
  sync
  if (( r % 2 )); then push_d; push_b; else push_b; push_d; fi
  # A second push of the same image to a new repository: nothing recompressed (mount).
  B tag big:1 "127.0.0.1:$P2/again:1"
  t=$(now); B push -q "127.0.0.1:$P2/again:1" >/dev/null; bre+=("$(echo "$(now) - $t" | bc)")
  docker rmi big:1 "127.0.0.1:$P1/big:1" >/dev/null
  B rmi big:1 "127.0.0.1:$P2/big:1" "127.0.0.1:$P2/again:1" >/dev/null
  sync
  if (( r % 2 )); then pull_d; pull_b; else pull_b; pull_d; fi
  [ "$(B inspect --format '{{.Id}}' "127.0.0.1:$P2/big:1")" = "$(docker inspect --format '{{.Id}}' "127.0.0.1:$P1/big:1")" ] \
    || { echo "pulled image IDs differ" >&2; exit 1; }
  # Back to the starting state for the next round.
  docker tag "127.0.0.1:$P1/big:1" big:1; docker rmi "127.0.0.1:$P1/big:1" >/dev/null
  B tag "127.0.0.1:$P2/big:1" big:1; B rmi "127.0.0.1:$P2/big:1" >/dev/null
  kill "$R1" "$R2"; wait "$R1" "$R2" 2>/dev/null || true; R1=; R2=
  rm -rf "$W/reg-docker-$r" "$W/reg-berth-$r"
done

DPU=$(m "${dpu[@]}"); DPL=$(m "${dpl[@]}"); BPU=$(m "${bpu[@]}"); BPL=$(m "${bpl[@]}"); BRE=$(m "${bre[@]}")
rate() { echo "$size_mb / $1" | bc -l; }
printf '\nimage: %s MB uncompressed, 2000 files, 1 layer; registry: docker-registry 2.8 on 127.0.0.1; median of %s rounds\n' "$size_mb" "$ROUNDS"
printf '%-34s %12s %12s %8s  %s\n' metric berth docker ratio "target (anchor: push 37 MB/s, pull 71 MB/s)"
printf '%-34s %6.2fs %4.0fMB/s %6.2fs %4.0fMB/s %7.2fx  %s\n' "push" "$BPU" "$(rate "$BPU")" "$DPU" "$(rate "$DPU")" "$(echo "$DPU / $BPU" | bc -l)" ">= 4x docker"
printf '%-34s %6.2fs %4.0fMB/s %6.2fs %4.0fMB/s %7.2fx  %s\n' "pull" "$BPL" "$(rate "$BPL")" "$DPL" "$(rate "$DPL")" "$(echo "$DPL / $BPL" | bc -l)" ">= 4x docker"
printf '%-34s %6.2fs\n' "berth second push (other repo)" "$BRE"
