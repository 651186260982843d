#!/bin/sh
# Fetch the Debian source of the installed Kamailio into a cache directory,
# for building bindings/kamailio against the exact headers Debian built with.
# Usage: scripts/kamailio-src.sh [CACHE_DIR]   (default: .build/kamailio-src)
# Prints the path of the unpacked source tree (its src/ has core/ and modules/).
# apt is pointed at a deb-src list of our own in CACHE_DIR; the system's lists
# are neither read for this nor changed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$top/.build/kamailio-src}
mkdir -p "$cache/lists/partial" "$cache/archives/partial"
cache=$(cd "$cache" && pwd)
version=$(dpkg-query -W -f='${Version}' kamailio 2>/dev/null || true)
[ -n "$version" ] || version=$(apt-cache policy kamailio 2>/dev/null |
  sed -n 's/^ *Candidate: *//p' | grep -v none || true)
if [ -z "$version" ]; then
  echo "kamailio-src: no kamailio package known to apt" >&2
  exit 1
fi
upstream=${version%-*}
upstream=${upstream#*:}
tree="$cache/kamailio-$upstream"
if [ -f "$tree/src/core/sr_module.h" ]; then
  echo "$tree"
  exit 0
fi
cat >"$cache/sources.list" <<LIST
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
LIST
opts="-o Dir::Etc::SourceList=$cache/sources.list -o Dir::Etc::SourceParts=/dev/null
 -o Dir::State::Lists=$cache/lists -o Dir::Cache::Archives=$cache/archives
 -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $opts -qq update >&2
# shellcheck disable=SC2086
(cd "$cache" && apt-get $opts -qq source "kamailio=$version" >&2)
if [ ! -f "$tree/src/core/sr_module.h" ]; then
  echo "kamailio-src: no source tree at $tree" >&2
  exit 1
fi
echo "$tree"
