#!/bin/bash
# Benchmark: a 200 MB / 2000-file build context with `FROM scratch` + `COPY . /data`.
# Prints berth-build's figure (context tar + open + COPY planning/hashing [+ layer tar
# when cold]) and dockerd's legacy-builder `docker build` figure, cold and fully
# cached, measured in the same run on the same context. The dockerd is a private one
# started here (root needed; apt docker.io) and stopped at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
FILES=${FILES:-2000}
KB=${KB:-100}
W=$(mktemp -d /tmp/bbench.XXXXXX)
trap 'kill "$(cat "$W/d.pid" 2>/dev/null)" 2>/dev/null || true; sleep 2; rm -rf "$W"' EXIT

cargo build -q -p berth-build --example context_bench
BIN="$ROOT/target/debug/examples/context_bench"

CTX="$W/ctx"
mkdir -p "$CTX"
for d in $(seq 1 20); do
  mkdir -p "$CTX/d$d"
  for f in $(seq 1 $((FILES / 20))); do
    head -c $((KB * 1024)) /dev/urandom > "$CTX/d$d/f$f.bin"
  done
done
printf 'FROM scratch\nCOPY . /data\n' > "$CTX/Dockerfile"
echo "context: $FILES files, $(du -sh "$CTX" | cut -f1)"

# berth-build
B=$("$BIN" "$CTX" "$W/work" 2>/dev/null)
B_COLD=$(echo "$B" | awk '/cold_ms/{print $2}')
B_CACHED=$(echo "$B" | awk '/cached_ms/{print $2}')

# dockerd, legacy builder
dockerd --data-root "$W/root" --exec-root "$W/exec" --host "unix://$W/d.sock" --pidfile "$W/d.pid" \
  --bridge none --iptables=false --ip6tables=false >"$W/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$W/d.sock" DOCKER_BUILDKIT=0
for _ in $(seq 1 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
D_COLD=$(ms docker build -q -t bench-ctx "$CTX")
D_CACHED=$(ms docker build -q -t bench-ctx "$CTX")

printf '%-28s %10s %10s\n' "" "cold_ms" "cached_ms"
printf '%-28s %10s %10s\n' "berth-build (front end)" "$B_COLD" "$B_CACHED"
printf '%-28s %10s %10s\n' "dockerd 20.10 legacy build" "$D_COLD" "$D_CACHED"
awk -v bc="$B_COLD" -v dc="$D_COLD" -v bk="$B_CACHED" -v dk="$D_CACHED" \
  'BEGIN { printf "ratio berth/docker: cold %.2fx, cached %.2fx\n", bc/dc, bk/dk }'
