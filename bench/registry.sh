#!/usr/bin/env bash
# Registry throughput: `berth registry serve` vs Debian's distribution 2.8
# (/usr/bin/docker-registry), same machine, same run, same client (curl).
#
#   1. 512 MB blob, monolithic upload (POST session, one PUT with the whole body)
#   2. the same blob downloaded (GET)
#   3. 32 parallel GETs of 16 MB blobs (curl --parallel)
#   4. idle RSS right after start, and RSS after the runs
#
# berth runs three ways: default (fsync before 201), no fsync (distribution's durability),
# and no fsync with `http.sendfile: always` (plain-HTTP blob downloads by sendfile even to
# this host's own clients, which by default get one copy from a memory map instead).
#
# Each figure is the best of $RUNS runs. Usage: bench/registry.sh [path/to/berth]
# (default target/release/berth; build it with `cargo build --release -p berth`).
set -euo pipefail

BERTH=${1:-target/release/berth}
DIST=/usr/bin/docker-registry
RUNS=${RUNS:-3}
WORK=$(mktemp -d /tmp/berth-registry-bench.XXXXXX)
trap 'kill ${PIDS:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT

[ -x "$BERTH" ] || { echo "missing $BERTH (cargo build --release -p berth)"; exit 1; }
[ -x "$DIST" ] || { echo "SKIP: $DIST not installed (apt install docker-registry)"; exit 0; }
command -v curl >/dev/null || { echo "curl needed"; exit 1; }

. "$(dirname "$0")/lib.sh"
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }

echo "generating test data in $WORK ..."
head -c $((512 << 20)) /dev/urandom > "$WORK/big"
BIG_D="sha256:$(sha256sum "$WORK/big" | cut -d' ' -f1)"
for i in $(seq 1 32); do head -c $((16 << 20)) /dev/urandom > "$WORK/small$i"; done

config() { # name port [fsync] [http extra]
	registry_config "$WORK/$1" "$2" "${3:-}" "${4:-}"
}

wait_up() {
	for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/v2/" >/dev/null && return 0; sleep 0.05; done
	echo "registry on $1 did not start"; exit 1
}

upload() { # port file digest → seconds for the PUT
	local loc t0 t1
	loc=$(curl -sf -X POST -D - -o /dev/null "http://127.0.0.1:$1/v2/bench/blobs/uploads/" | awk 'tolower($1)=="location:" { print $2 }' | tr -d '\r')
	case "$loc" in http*) ;; *) loc="http://127.0.0.1:$1$loc" ;; esac
	case "$loc" in *\?*) loc="$loc&digest=$3" ;; *) loc="$loc?digest=$3" ;; esac
	t0=$(now)
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T "$2" "$loc" -o /dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

download() { # port digest → seconds
	local t0 t1
	t0=$(now)
	curl -sf -o /dev/null "http://127.0.0.1:$1/v2/bench/blobs/$2"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

parallel_get() { # port → seconds for 32 concurrent GETs
	local args=() t0 t1
	for i in $(seq 1 32); do args+=(-o /dev/null "http://127.0.0.1:$1/v2/bench/blobs/${SMALL_D[$i]}"); done
	t0=$(now)
	curl -sf --no-progress-meter --parallel --parallel-max 32 "${args[@]}"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

min() { printf '%s\n' "$@" | sort -g | head -1; }

declare -A SMALL_D
for i in $(seq 1 32); do SMALL_D[$i]="sha256:$(sha256sum "$WORK/small$i" | cut -d' ' -f1)"; done

declare -A UP DOWN PAR RSS0 RSS1
bench_one() { # label port cmd...
	local label=$1 port=$2; shift 2
	"$@" > "$WORK/$label.log" 2>&1 &
	local pid=$!
	PIDS="${PIDS:-} $pid"
	wait_up "$port"
	sleep 0.5
	RSS0[$label]=$(rss_kb $pid)
	local u=() d=() p=()
	for _ in $(seq 1 "$RUNS"); do
		u+=("$(upload "$port" "$WORK/big" "$BIG_D")")
		d+=("$(download "$port" "$BIG_D")")
	done
	for i in $(seq 1 32); do upload "$port" "$WORK/small$i" "${SMALL_D[$i]}" >/dev/null; done
	for _ in $(seq 1 "$RUNS"); do p+=("$(parallel_get "$port")"); done
	UP[$label]=$(mbps $((512 << 20)) "$(min "${u[@]}")")
	DOWN[$label]=$(mbps $((512 << 20)) "$(min "${d[@]}")")
	PAR[$label]=$(mbps $((512 << 20)) "$(min "${p[@]}")")
	RSS1[$label]=$(rss_kb $pid)
	kill $pid; wait $pid 2>/dev/null || true
}

config berth 5101
config nofsync 5103 "    fsync: false"
config sendfile 5104 "    fsync: false" "  sendfile: always"
config dist 5102
bench_one berth 5101 "$BERTH" registry serve "$WORK/berth/config.yml"
bench_one nofsync 5103 "$BERTH" registry serve "$WORK/nofsync/config.yml"
bench_one sendfile 5104 "$BERTH" registry serve "$WORK/sendfile/config.yml"
bench_one dist 5102 "$DIST" serve "$WORK/dist/config.yml"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
row() { # label unit values... (berth nofsync sendfile dist)
	printf '%-28s %9s %5s %12s %5s %12s %5s %14s %5s   %s / %s / %s\n' "$1" "$3" "$2" "$4" "$2" "$5" "$2" "$6" "$2" \
		"$(ratio "$3" "$6")" "$(ratio "$4" "$6")" "$(ratio "$5" "$6")"
}
printf '\n%-28s %15s %18s %18s %20s   %s\n' "metric (best of $RUNS)" "berth (fsync)" "berth (no fsync)" "berth (sendfile)" "distribution 2.8" "ratios vs distribution"
row "512 MB monolithic upload" MB/s "${UP[berth]}" "${UP[nofsync]}" "${UP[sendfile]}" "${UP[dist]}"
row "512 MB download" MB/s "${DOWN[berth]}" "${DOWN[nofsync]}" "${DOWN[sendfile]}" "${DOWN[dist]}"
row "32 parallel 16 MB GETs" MB/s "${PAR[berth]}" "${PAR[nofsync]}" "${PAR[sendfile]}" "${PAR[dist]}"
printf '%-28s %9s kB %15s kB %15s kB %17s kB\n' "idle RSS after start" "${RSS0[berth]}" "${RSS0[nofsync]}" "${RSS0[sendfile]}" "${RSS0[dist]}"
printf '%-28s %9s kB %15s kB %15s kB %17s kB\n' "RSS after the runs" "${RSS1[berth]}" "${RSS1[nofsync]}" "${RSS1[sendfile]}" "${RSS1[dist]}"
echo "(berth fsyncs every blob before answering 201 by default; distribution never fsyncs."
echo " 'no fsync' is the berth extension storage.filesystem.fsync: false, distribution's durability;"
echo " 'sendfile' is no fsync plus http.sendfile: always: blob downloads by sendfile even to this"
echo " host's own clients (curl here), which by default get one copy from a memory map instead.)"
echo "(issue anchor for distribution: 249 / 1334 MB/s upload/download, 1488 MB/s parallel; targets ≥2.5x / ≥1.5x / ≥1.5x)"
