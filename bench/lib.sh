# Helpers shared by the bench/*.sh scripts that race berth against a real dockerd in the
# same run. Sourced (bash) from the repository root after `cd`; defining these starts
# nothing. The daemons live in the scripts' work directory $W.
# shellcheck shell=bash

now() { date +%s.%N; }
# The median of the numbers on stdin, one a line; m: of its arguments.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m() { printf '%s\n' "$@" | median; }
# A process's resident memory, kB.
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# BERTH as given (e.g. a release binary built earlier), else this tree's release build,
# made now.
need_berth() {
  if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth >/dev/null 2>&1
    BERTH=$PWD/target/release/berth
  fi
}

# dockerd on $W/d.sock (data root, exec root, pid file and log in $W) with the given
# network options; returns once it answers.
start_dockerd() {
  dockerd --host "unix://$W/d.sock" --data-root "$W/ddata" --exec-root "$W/dexec" --pidfile "$W/d.pid" \
    "$@" >"$W/dockerd.log" 2>&1 &
  for _ in $(seq 150); do DOCKER_HOST="unix://$W/d.sock" docker version >/dev/null 2>&1 && break; sleep 0.2; done
}

# `berth daemon` on $W/b.sock (roots and log in $W), its pid in BPID; returns once its
# socket is there. B runs the berth CLI against it.
start_berthd() {
  "$BERTH" daemon -H "unix://$W/b.sock" --data-root "$W/broot" --exec-root "$W/bexec" 2>"$W/berth.log" &
  BPID=$!
  for _ in $(seq 100); do [ -S "$W/b.sock" ] && break; sleep 0.05; done
}
B() { BERTH_HOST="unix://$W/b.sock" "$BERTH" "$@"; }

# Stops both daemons and removes $W (a script's own clean-up goes first).
stop_daemons() {
  [ -n "${BPID:-}" ] && kill "$BPID" 2>/dev/null || true
  [ -f "$W/d.pid" ] && kill "$(cat "$W/d.pid")" 2>/dev/null || true
  sleep 2; rm -rf "$W" 2>/dev/null || true
}

# A distribution (docker-registry, or `berth registry serve`) config.yml in DIR: on
# 127.0.0.1:PORT, blobs in DIR/data, with further lines for the storage and http sections.
registry_config() { # DIR PORT [STORAGE_LINES] [HTTP_LINES]
  mkdir -p "$1"
  cat >"$1/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1/data
${3:-}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
${4:-}
YML
}

# 2000 files of random bytes, SIZE_MB in all, in DIR.
random_files() { # DIR SIZE_MB
  local per=$(( $2 * 1024 * 1024 / 2000 ))
  mkdir -p "$1"
  for i in $(seq 2000); do head -c "$per" /dev/urandom > "$1/f$i"; done
}

# big:1 in dockerd: the busybox rootfs plus random_files of SIZE_MB in /data, imported
# from $W/big-rootfs.tar (left for the caller).
big_image() { # SIZE_MB
  mkdir -p "$W/rootfs/data"
  scripts/busybox-rootfs.sh "$W/bb.tar"
  tar -C "$W/rootfs" -xf "$W/bb.tar"
  random_files "$W/rootfs/data" "$1"
  tar -C "$W/rootfs" -cf "$W/big-rootfs.tar" .
  docker import "$W/big-rootfs.tar" big:1 >/dev/null
}
