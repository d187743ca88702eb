#!/usr/bin/env bash
# Benchmark of berth's runtime (the shim driving libcontainer) against runc, measured in the
# same run, round-robin:
#   - lifecycle of a busybox `/bin/true` container (create + start + wait + delete):
#       berth-fg   `berth shim --start --foreground`     (one process, like `runc run`)
#       berth-shim `berth shim --start` (detached) + wait for exit.json (the daemon's path)
#       runc       `runc run` on the same config.json
#       exec-true  plain fork+exec of /bin/true (harness overhead)
#   - RSS of a berth shim per running container.
# Usage: bench/runtime.sh [RUNS]   (root; BERTH=path/to/berth to skip the release build)
set -euo pipefail
RUNS=${1:-30}
cd "$(dirname "$0")/.."
if [[ -z "${BERTH:-}" ]]; then
  cargo build --release -p berth >&2
  BERTH=$PWD/target/release/berth
fi
command -v runc >/dev/null || { echo "SKIP: runc is not installed (apt-get install runc)"; exit 0; }
[[ -x /bin/busybox ]] || { echo "SKIP: /bin/busybox (busybox-static) is not installed"; exit 0; }

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
  for f in "$WORK"/state/*/shim.json; do
    [[ -f $f ]] && kill -9 "$(jq -r .init_pid "$f")" 2>/dev/null || true
  done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,etc,proc,sys,dev,tmp}
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in sh true sleep echo; do ln -s /bin/busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOTFS/etc/passwd"
echo 'root:x:0:' > "$ROOTFS/etc/group"

mkspec() { # id args-json
  printf '{"id":"%s","rootfs":{"path":"%s"},"args":%s}' "$1" "$ROOTFS" "$2" > "$WORK/$1.json"
  "$BERTH" shim --id "$1" --bundle "$WORK/bundles/$1" --state-dir "$WORK/state/$1" --write-bundle "$WORK/$1.json"
}
mkdir -p "$WORK/bundles" "$WORK/state"
mkspec bench '["/bin/true"]'
# runc gets the very same OCI config (Docker's default profile, cgroupsPath /berth/<id>).
mkdir -p "$WORK/runc-bundle"
jq '.linux.cgroupsPath = "/berth/runc-bench"' "$WORK/bundles/bench/config.json" > "$WORK/runc-bundle/config.json"

python3 - "$BERTH" "$WORK" "$RUNS" <<'PY'
import os, statistics, subprocess, sys, time
berth, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
bundle, state, rt = f"{work}/bundles/bench", f"{work}/state/bench", f"{work}/runtime"
dn = subprocess.DEVNULL

def berth_fg(i):
    subprocess.run([berth, "shim", "--id", "bench", "--bundle", bundle, "--state-dir", state,
                    "--runtime-root", rt, "--start", "--foreground"], stdout=dn, check=True)

def berth_shim(i):
    exit_json = f"{state}/exit.json"
    subprocess.run([berth, "shim", "--id", "bench", "--bundle", bundle, "--state-dir", state,
                    "--runtime-root", rt, "--start"], stdout=dn, check=True)
    while not os.path.exists(exit_json):
        time.sleep(0.0002)
    # the shim exits right after writing exit.json; make sure it is gone before the next run
    while os.path.exists(f"{state}/control.sock"):
        time.sleep(0.0002)

def runc(i):
    subprocess.run(["runc", "--root", f"{work}/runc-root", "run", "--bundle", f"{work}/runc-bundle",
                    f"runc-bench-{i}"], stdin=dn, stdout=dn, check=True)

def exec_true(i):
    subprocess.run(["/bin/true"], check=True)

methods = [("berth-fg", berth_fg), ("berth-shim", berth_shim), ("runc", runc), ("exec-true", exec_true)]
times = {n: [] for n, _ in methods}
for r in range(runs + 1):
    for name, fn in methods:
        t0 = time.perf_counter()
        fn(r)
        dt = (time.perf_counter() - t0) * 1000
        if r > 0:  # round 0 is a warm-up
            times[name].append(dt)
print(f"container lifecycle of busybox /bin/true, {runs} runs each (ms)")
print(f"{'runtime':<12}{'median':>9}{'min':>9}{'max':>9}")
for name, _ in methods:
    t = times[name]
    print(f"{name:<12}{statistics.median(t):>9.1f}{min(t):>9.1f}{max(t):>9.1f}")
ratio = statistics.median(times["berth-shim"]) / statistics.median(times["runc"])
print(f"berth-shim / runc median ratio: {ratio:.2f}")
PY

# RSS of running shims.
N=5
for i in $(seq 1 $N); do
  mkspec "rss$i" '["sleep","60"]'
  "$BERTH" shim --id "rss$i" --bundle "$WORK/bundles/rss$i" --state-dir "$WORK/state/rss$i" \
    --runtime-root "$WORK/runtime" --start >/dev/null
done
rss=0; pss=0
for i in $(seq 1 $N); do
  pid=$(jq -r .shim_pid "$WORK/state/rss$i/shim.json")
  r=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  p=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)
  rss=$((rss + r)); pss=$((pss + p))
done
echo "berth shim per running container ($N running): VmRSS $((rss / N)) KiB, PSS $((pss / N)) KiB"
for i in $(seq 1 $N); do
  kill -9 "$(jq -r .init_pid "$WORK/state/rss$i/shim.json")"
done
for i in $(seq 1 $N); do
  for _ in $(seq 1 200); do [[ -f $WORK/state/rss$i/exit.json ]] && break; sleep 0.02; done
done
