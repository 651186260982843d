#!/usr/bin/env bash
# Installs, from Debian's archive, every package libsipflow's build, tests,
# examples and demo need. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  build-essential g++ pkg-config meson ninja-build clang clang-format
  libsodium-dev libcriterion-dev libuv1-dev libsofia-sip-ua-dev libjansson-dev uthash-dev libsqlite3-dev
  libhiredis-dev redis-server
  redis-sentinel faketime
  sip-tester python3 python3-pytest python3-pip python3-setuptools valgrind iproute2 procps bc doxygen abigail-tools
  python3-venv python3-setuptools-whl python3-wheel-whl mypy
  baresip-core linphone-cli
  kamailio kamailio-extra-modules dpkg-dev
  libssl-dev libwslay-dev libhttp-parser-dev nettle-dev openssl
  chromium nodejs
  kamailio kamailio-tls-modules kamailio-websocket-modules kamailio-outbound-modules
)
# npm comes with nodejs from some archives; Debian packages it apart.
command -v npm >/dev/null || packages+=(npm)

# The npm clients the wire tests drive (tests/clients/package-lock.json),
# never a downloaded browser (puppeteer-core uses /usr/bin/chromium);
# nothing is fetched when they are already installed.
clients() {
  local d
  d="$(cd "$(dirname "$0")/.." && pwd)/tests/clients"
  npm ls --prefix "$d" >/dev/null 2>&1 && return 0
  echo "deps: npm ci in $d"
  (cd "$d" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  clients
  exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: need root to install packages (run as root or with sudo)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
clients
