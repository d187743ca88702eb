#!/bin/sh
# Benchmark: `berth analyze --ci` on a ~1 GB, 20-layer, 50 000-file docker-save archive.
# Prints berth's wall time and peak RSS for the file path (seek + parallel layers), the
# stream path (a pipe, as a daemon export arrives) and an OCI layout with gzip layers. Anchor: dive is not installable
# here (no Go toolchain new enough, no network), so the anchor is the target,
# < 2 s on this 2-core machine.
#
# usage: bench/analyze.sh [total_bytes] [layers] [files]    (run from the repository root)
set -eu
TOTAL=${1:-1000000000}
LAYERS=${2:-20}
FILES=${3:-50000}
WORK=$(mktemp -d /tmp/berth-bench-analyze.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
IMG="$WORK/image.tar"

echo "building release berth…"
cargo build --release -p berth -q
BERTH=./target/release/berth

echo "generating $IMG ($TOTAL bytes, $LAYERS layers, $FILES files)…"
python3 bench/analyze_gen.py "$IMG" "$TOTAL" "$LAYERS" "$FILES"
ls -l "$IMG" | awk '{printf "archive size: %.2f GB\n", $5/1e9}'
printf 'rules:\n  lowestEfficiency: disabled\n  highestUserWastedPercent: disabled\n' > "$WORK/rules.yaml"

run() {
    label=$1; shift
    # Warm the page cache once so both modes read from memory, then measure.
    cat "$IMG" > /dev/null
    /usr/bin/time -v "$@" > "$WORK/out.txt" 2> "$WORK/time.txt" || true
    wall=$(grep 'Elapsed (wall clock)' "$WORK/time.txt" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$WORK/time.txt" | awk '{printf "%.1f MiB", $NF/1024}')
    eff=$(grep -m1 'efficiency:' "$WORK/out.txt" | awk '{print $2, $3}')
    wasted=$(grep -m1 'wastedBytes:' "$WORK/out.txt" | awk '{print $2}')
    echo "berth analyze --ci ($label): wall $wall  peak RSS $rss  efficiency $eff  wasted $wasted bytes"
}

run "archive file" "$BERTH" analyze --ci --ci-config "$WORK/rules.yaml" "$IMG"
run "stream through a pipe" sh -c "cat \"$IMG\" | \"$BERTH\" analyze --ci --ci-config \"$WORK/rules.yaml\" -"
echo "converting to an OCI layout with gzip layers…"
python3 bench/analyze_oci_gzip.py "$IMG" "$WORK/oci-gzip"
du -sb "$WORK/oci-gzip" | awk '{printf "oci-gzip size: %.1f MB\n", $1/1e6}'
run "OCI dir, gzip layers" "$BERTH" analyze --ci --ci-config "$WORK/rules.yaml" "$WORK/oci-gzip"
echo "anchor: dive — not installable here; target from issue 8: < 2 s (0:02.00) on this 2-core machine"
