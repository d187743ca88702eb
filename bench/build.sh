#!/usr/bin/env bash
# Builder benchmark, berth vs a real dockerd (Debian's docker.io, legacy builder,
# DOCKER_BUILDKIT=0) in the same run, both on the same imported busybox base:
#   1. a small 5-step build (ENV, WORKDIR, COPY, RUN, CMD), cold (--no-cache) and
#      fully cached;
#   2. a 200 MB / 2000-file COPY context, cold (--no-cache) and cached.
# The same docker CLI drives both daemons (so the client-side context tarring is the
# same); berth's own CLI is measured too. Median of ROUNDS runs.
# The berth CLI uploads incrementally (files whose stat did not change since the last
# upload stay out of the tar: crates/berth-build/src/upload.rs), so its "cold" rows are
# --no-cache rebuilds of an unchanged context; "all touched" is the same after `touch`ing
# every file, when it sends the whole context.
# Anchors (issue 5): docker 1.43 s / 0.070 s and 6.4 s / 2.0 s on this machine;
# targets berth <= 0.3x / <= 0.5x and <= 0.4x / <= 0.1x.
# The docker CLI alone (against bench/build_sink.py, a daemon that does no work) is the
# floor of any docker-CLI figure.
# Usage: [BERTH=target/release/berth] bench/build.sh [SIZE_MB] [ROUNDS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-200}
ROUNDS=${2:-3}
. bench/lib.sh
# BERTH=path skips the build (e.g. a release binary built earlier).
need_berth
W=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
cleanup() {
  [ -n "${SINKPID:-}" ] && kill "$SINKPID" 2>/dev/null || true
  stop_daemons
}
trap cleanup EXIT

start_dockerd --bridge none --iptables=false
start_berthd
export DOCKER_BUILDKIT=0 DOCKER_CONFIG="$W/cfg"
D() { DOCKER_HOST="unix://$W/d.sock" docker "$@"; }
BD() { DOCKER_HOST="unix://$W/b.sock" docker "$@"; }
# The docker CLI's own share of a build: the same command against a daemon that does no
# work (bench/build_sink.py reads the context and answers at once).
python3 bench/build_sink.py "$W/sink.sock" & SINKPID=$!
for _ in $(seq 100); do [ -S "$W/sink.sock" ] && break; sleep 0.05; done
SK() { DOCKER_HOST="unix://$W/sink.sock" docker "$@"; }

scripts/busybox-rootfs.sh "$W/bb.tar"
D import -c 'CMD ["sh"]' "$W/bb.tar" busybox >/dev/null
B import -c 'CMD ["sh"]' "$W/bb.tar" busybox >/dev/null

# 1. small context, 5 steps after FROM
mkdir -p "$W/small"
printf '#!/bin/sh\necho "$APP"\n' > "$W/small/app.sh"
cat > "$W/small/Dockerfile" <<'DF'
FROM busybox
ENV APP=bench
WORKDIR /app
COPY app.sh /app/
RUN echo built > /app/built && chmod 755 /app/app.sh
CMD ["/app/app.sh"]
DF
# 2. big context: SIZE_MB in 2000 files
random_files "$W/big/data" "$SIZE_MB"
printf 'FROM busybox\nCOPY data /data\n' > "$W/big/Dockerfile"

# Each measurement starts with the disk quiet: one engine's writeback must not be
# charged to the other's next build.
timed() { local t; sync; t=$(now); "$@" >/dev/null; echo "$(now) - $t" | bc; }

declare -a dsc dsw bsc bsw xsc xsw dbc dbw bbc bbw xbc xbw xbt ksc kbc
# One group per client/daemon pair; the pairs take turns going first, so none always runs
# right after another daemon's build (and its background clean-up).
run_d() {
  dsc+=("$(timed D build --network none --no-cache -t small "$W/small")")
  dsw+=("$(timed D build --network none -t small "$W/small")")
  dbc+=("$(timed D build --network none --no-cache -t big "$W/big")")
  dbw+=("$(timed D build --network none -t big "$W/big")")
}
run_bd() {
  bsc+=("$(timed BD build --network none --no-cache -t small "$W/small")")
  bsw+=("$(timed BD build --network none -t small "$W/small")")
  bbc+=("$(timed BD build --network none --no-cache -t big "$W/big")")
  bbw+=("$(timed BD build --network none -t big "$W/big")")
}
run_b() {
  xsc+=("$(timed B build --network none --no-cache -t small "$W/small")")
  xsw+=("$(timed B build --network none -t small "$W/small")")
  xbc+=("$(timed B build --network none --no-cache -t big "$W/big")")
  xbw+=("$(timed B build --network none -t big "$W/big")")
  # Every file's stat changed (as after a fresh checkout): the berth CLI sends them all.
  touch "$W"/big/data/*
  xbt+=("$(timed B build --network none --no-cache -t big "$W/big")")
}
run_sink() {
  ksc+=("$(timed SK build --network none --no-cache -t small "$W/small")")
  kbc+=("$(timed SK build --network none --no-cache -t big "$W/big")")
}
groups=(run_d run_bd run_b run_sink)
for r in $(seq "$ROUNDS"); do
  for k in 0 1 2 3; do "${groups[$(( (r + k) % 4 ))]}"; done
done
# Same result from both: the app runs, the big image has every file.
[ "$(B run --rm --network none small)" = bench ] || { echo "berth image does not run" >&2; exit 1; }
[ "$(B run --rm --network none big sh -c 'ls /data | wc -l')" = 2000 ] || { echo "berth big image incomplete" >&2; exit 1; }

row() { # label berth docker target
  printf '%-34s %9.3fs %9.3fs %8.2f  %s\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)" "$4"
}
printf '\nmedian of %s rounds; big context: %s MB in 2000 files\n' "$ROUNDS" "$SIZE_MB"
printf '%-34s %10s %10s %8s  %s\n' build berth docker ratio target
row "5-step, cold (docker CLI)" "$(m "${bsc[@]}")" "$(m "${dsc[@]}")" "<= 0.30 (anchor docker 1.43s)"
row "5-step, cached (docker CLI)" "$(m "${bsw[@]}")" "$(m "${dsw[@]}")" "<= 0.50 (anchor docker 0.070s)"
row "5-step, cold (berth CLI)" "$(m "${xsc[@]}")" "$(m "${dsc[@]}")" "<= 0.30"
row "5-step, cached (berth CLI)" "$(m "${xsw[@]}")" "$(m "${dsw[@]}")" "<= 0.50"
row "200MB COPY, cold (docker CLI)" "$(m "${bbc[@]}")" "$(m "${dbc[@]}")" "<= 0.40 (anchor docker 6.4s)"
row "200MB COPY, cached (docker CLI)" "$(m "${bbw[@]}")" "$(m "${dbw[@]}")" "<= 0.10 (anchor docker 2.0s)"
row "200MB COPY, cold (berth CLI)" "$(m "${xbc[@]}")" "$(m "${dbc[@]}")" "<= 0.40"
row "200MB COPY, cached (berth CLI)" "$(m "${xbw[@]}")" "$(m "${dbw[@]}")" "<= 0.10"
row "200MB COPY, cold, all touched" "$(m "${xbt[@]}")" "$(m "${dbc[@]}")" "(berth CLI sends every file)"
printf '%-34s %9.3fs %9.3fs %8.2f  %s\n' "docker CLI alone, 5-step" "$(m "${ksc[@]}")" "$(m "${dsw[@]}")" "$(echo "$(m "${ksc[@]}") / $(m "${dsw[@]}")" | bc -l)" "(no-work daemon; ratio vs docker cached)"
printf '%-34s %9.3fs %9.3fs %8.2f  %s\n' "docker CLI alone, 200MB COPY" "$(m "${kbc[@]}")" "$(m "${dbw[@]}")" "$(echo "$(m "${kbc[@]}") / $(m "${dbw[@]}")" | bc -l)" "(no-work daemon; ratio vs docker cached)"
