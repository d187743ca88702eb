#!/usr/bin/env bash
# Regenerates crates/berth/symbol-order.txt: the functions the daemon, the shim and the
# common CLI commands actually execute, which the linker places together at the start of
# `.text` (lld --symbol-ordering-file, see crates/berth/build.rs).
#
# Why: the kernel maps a binary's code 64 KB at a time around each page fault. In the
# 36 MB `berth` text the functions a process runs are spread thin, so an idle daemon kept
# ~10 MB of text resident, and every CLI and shim start took ~600 page faults. Packed
# together, the same functions take a fraction of the pages.
#
# How: 1. an instrumented build (-Cprofile-generate) runs a representative workload (daemon
# start and idle, import, run --rm with and without a network, run -d/stop/rm, exec, logs,
# ps, images, inspect, build, the spare shim); every function with a non-zero count is
# mapped to the symbols of the normal release build (hash suffixes stripped, so a symbol
# whose legacy hash differs between the two builds still matches). 2. The precompiled
# standard library is not instrumented, and inlining differs between the two builds: the
# release build, linked with the list so far, runs the same workload under
# `perf record -e page-faults`, and each function that still faults outside the packed
# region is added; repeated until (almost) nothing new faults.
#
# Run after large code or dependency changes (as root; takes ~10 minutes). A stale list is
# harmless: unknown names are ignored, new functions are just not packed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
[[ -x $TOOLS/llvm-profdata ]] || rustup component add llvm-tools
PGO_TARGET=${PGO_TARGET:-/tmp/berth-pgo-target}
PGO_DATA=${PGO_DATA:-/tmp/berth-pgo-data} # baked into the instrumented build; overridden below
W=$(mktemp -d /tmp/berth-order.XXXXXX)
trap 'kill "${BPID:-}" 2>/dev/null || true; sleep 1; rm -rf "$W"' EXIT

CARGO_TARGET_DIR=$PGO_TARGET \
  RUSTFLAGS="-Cprofile-generate=$PGO_DATA -C link-arg=-Wl,-z,pack-relative-relocs" \
  cargo build --release -p berth
cargo build --release -p berth
PGO=$PGO_TARGET/release/berth
REL=$ROOT/target/release/berth

# The instrumented processes write to $PGO_DATA (the path is compiled in); what the
# build's own proc macros and build scripts wrote there is cleared first.
mkdir -p "$PGO_DATA"; rm -f "$PGO_DATA"/*.profraw
# The workload: the daemon started and idle, then the common commands and container paths.
workload() { # BERTH_BINARY DIR
  local bin=$1 d=$2
  mkdir -p "$d"
  "$bin" daemon -H "unix://$d/b.sock" --data-root "$d/root" --exec-root "$d/exec" 2>"$d/d.log" &
  BPID=$!
  for _ in $(seq 100); do [ -S "$d/b.sock" ] && break; sleep 0.05; done
  sleep 3 # idle
  B() { BERTH_HOST="unix://$d/b.sock" "$bin" "$@"; }
  B import "$W/bb.tar" busybox >/dev/null
  for _ in 1 2 3; do
    B run --rm --network none busybox true
    B run --rm busybox true
  done
  B run --rm -t busybox sh -c 'echo tty' >/dev/null
  local id
  id=$(B run -d busybox sh -c 'trap "exit 0" TERM; echo hi; sleep 100 & wait')
  B exec "$id" echo in >/dev/null
  B logs "$id" >/dev/null
  B ps >/dev/null; B ps -a -q >/dev/null
  B inspect "$id" >/dev/null; B inspect -f '{{.State.Status}}' "$id" >/dev/null
  B stop "$id" >/dev/null; B start "$id" >/dev/null; B stop -t 1 "$id" >/dev/null; B rm "$id" >/dev/null
  B images >/dev/null; B version >/dev/null; B info >/dev/null
  B build -q -t t1 "$W/ctx" >/dev/null
  B run --rm t1 >/dev/null
  sleep 1
  kill -TERM "$BPID"; wait "$BPID" || true
  sleep 1 # shims and spares exit
}
scripts/busybox-rootfs.sh "$W/bb.tar" >/dev/null
mkdir -p "$W/ctx"; printf 'FROM busybox\nRUN echo hi > /x\nCOPY f /f\nCMD ["cat","/x"]\n' >"$W/ctx/Dockerfile"
echo f >"$W/ctx/f"

# 1. Every function of berth's own crates and their dependencies that ran (counters).
workload "$PGO" "$W/pgo"
"$TOOLS/llvm-profdata" merge -o "$W/all.profdata" "$PGO_DATA"/*.profraw
"$TOOLS/llvm-profdata" show --all-functions --counts "$W/all.profdata" >"$W/funcs.txt"
nm --defined-only "$REL" | awk '$2 ~ /^[tTwW]$/ {print $3}' >"$W/syms.txt"
python3 - "$W/funcs.txt" "$W/syms.txt" "$W/all.txt" <<'PY'
import re, sys
funcs, syms, out = sys.argv[1:4]
strip = lambda n: re.sub(r"17h[0-9a-f]{16}E$", "E", n)
counts, name = {}, None
for line in open(funcs):
    m = re.match(r"  (\S.*):$", line)
    if m:
        name = re.split(r"[;:]", m.group(1))[-1]
        continue
    m = re.match(r"\s+Block counts: \[(.*)\]", line)
    if m and name:
        total = sum(int(x) for x in m.group(1).split(",") if x.strip())
        if total > 0:
            counts[name] = counts.get(name, 0) + total
by_key, exact = {}, set()
for s in open(syms):
    s = s.strip()
    exact.add(s)
    by_key.setdefault(strip(s), []).append(s)
ordered = sorted(counts, key=lambda k: -counts[k])
n = 0
with open(out, "w") as f:
    for k in ordered:
        # The same name in both builds, else (legacy hash differs) the release symbols with
        # that name less its hash, when that is not ambiguous: a generic's instances share
        # the name and differ only in the hash (drop_in_place has thousands).
        found = [k] if k in exact else by_key.get(strip(k), [])
        if len(found) > 2:
            continue
        for s in found:
            f.write(s + "\n")
            n += 1
print(f"{len(counts)} functions ran; {n} release symbols matched")
PY

# Fault rounds: link with the current list, run a workload under
# `perf record -e page-faults`, and add each berth function that still faulted (the first
# function touched in each 64 KB window outside the packed region); until few are new.
faults() { # ROUNDS LISTFILE COMMAND... : appends new faulting functions to LISTFILE
  local rounds=$1 list=$2; shift 2
  for round in $(seq "$rounds"); do
    { cat "$list"; grep -vxF -f "$list" "$W/all.txt"; } >crates/berth/symbol-order.txt
    touch crates/berth/build.rs
    cargo build --release -p berth 2>/dev/null
    perf record -q -e page-faults -c 1 -a -o "$W/pf.data" -- "$@" >/dev/null 2>&1 || true
    perf script -i "$W/pf.data" --no-demangle -F ip,sym,dso 2>/dev/null |
      awk -v bin="($REL)" '$NF == bin && $2 != "[unknown]" {print $2}' | sort -u >"$W/faulted.txt"
    local new n
    new=$(grep -vxF -f "$list" "$W/faulted.txt" || true)
    n=$(printf '%s' "$new" | grep -c . || true)
    echo "round $round: $(wc -l <"$W/faulted.txt") functions faulted, $n new"
    [ "$n" -le 2 ] && break
    printf '%s\n' "$new" >>"$list"
  done
}
idle_daemon() { # DIR
  "$REL" daemon -H "unix://$1/b.sock" --data-root "$1/root" --exec-root "$1/exec" 2>"$1/d.log" &
  local p=$!
  sleep 3
  kill "$p"; wait "$p" || true
}
export -f idle_daemon workload
export REL W

# 2. The daemon's start and idle first, packed together at the head of the list: that is
# all the text an idle daemon keeps resident.
: >"$W/daemon.txt"
faults "${DAEMON_ROUNDS:-25}" "$W/daemon.txt" bash -c 'd=$(mktemp -d "$W/idle.XXXX"); idle_daemon "$d"'
# 3. Then what the whole workload still faults on (the standard library, inlining).
cp "$W/daemon.txt" "$W/list.txt"
faults "${WORKLOAD_ROUNDS:-8}" "$W/list.txt" bash -c 'd=$(mktemp -d "$W/wl.XXXX"); workload "$REL" "$d"'
{ cat "$W/list.txt"; grep -vxF -f "$W/list.txt" "$W/all.txt"; } >crates/berth/symbol-order.txt
touch crates/berth/build.rs
cargo build --release -p berth 2>/dev/null
echo "$(wc -l <crates/berth/symbol-order.txt) symbols in crates/berth/symbol-order.txt"
