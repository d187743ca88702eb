#!/usr/bin/env bash
# Installs what berth's build and tests need on Debian 12 (idempotent; run as root).
set -euo pipefail
PKGS=(bc busybox-static nftables iproute2 libseccomp-dev pkg-config docker.io docker-registry skopeo runc tmux jq openssl curl time python3 docker-compose)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
