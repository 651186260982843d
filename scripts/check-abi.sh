#!/usr/bin/env bash
# Compares the ABI of each shared library of a build tree with the last
# release's, kept in abi/<version>/<library>.abi (written by abidw from that
# release's build, public headers only; abidiff from Debian abigail-tools):
#   scripts/check-abi.sh BUILD_DIR
# Prints one line per library, "ok: ..." or "FAIL: ...", and exits non-zero
# if any failed. Added functions are fine; an incompatible change (a symbol
# removed, a type or signature changed) fails unless the library's SONAME
# changed too (NEWS says so). Needs abidiff (Debian abigail-tools).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: scripts/check-abi.sh BUILD_DIR}" && pwd) || exit 2
base=$(ls -d "$root"/abi/*/ 2>/dev/null | sort -V | tail -1)
[ -n "$base" ] || { echo "FAIL: abi: no baseline under abi/"; exit 1; }
command -v abidiff >/dev/null || { echo "FAIL: abi: abidiff not installed"; exit 1; }
rc_all=0
for lib in libsipflow:lib libsipflow-uv:lib/uv libsipflow-sofia:lib/sofia \
    libsipflow-sqlite:lib/sqlite libsipflow-redis:lib/redis; do
  name=${lib%%:*}
  so="$build/${lib#*:}/$name.so"
  old="$base$name.abi"
  if [ ! -e "$so" ] || [ ! -e "$old" ]; then
    echo "FAIL: abi: $name: $so or $old missing"; rc_all=1; continue
  fi
  out=$(abidiff --headers-dir2 "$root/include/sipflow" "$old" "$so" 2>&1)
  rc=$?
  added=$(grep -oE '[0-9]+ Added function' <<<"$out" | head -1 | grep -oE '^[0-9]+')
  # abidiff marks a struct that grew behind a pointer as a "change", not as
  # incompatible; for us it is one (an array of library-filled structs
  # changes its stride), so every changed function or variable counts.
  changed=$(grep -oE '[0-9]+ Changed' <<<"$out" | grep -oE '^[0-9]+' | paste -sd+ | bc)
  removed=$(grep -oE '[0-9]+ Removed' <<<"$out" | grep -oE '^[0-9]+' | paste -sd+ | bc)
  breaks=0
  [ $((rc & 8)) -ne 0 ] && breaks=1
  [ "${changed:-0}" -gt 0 ] || [ "${removed:-0}" -gt 0 ] && breaks=1
  old_soname=$(grep -oE "soname='[^']+'" "$old" | head -1 | cut -d"'" -f2)
  new_soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
  if [ $((rc & 3)) -ne 0 ]; then
    echo "$out" | head -20
    echo "FAIL: abi: $name: abidiff could not compare (exit $rc)"; rc_all=1
  elif [ "$breaks" -eq 1 ] && [ "$old_soname" = "$new_soname" ]; then
    echo "$out" | head -60
    echo "FAIL: abi: $name: incompatible with $(basename "$base") but the SONAME is still $new_soname"
    rc_all=1
  elif [ "$breaks" -eq 1 ]; then
    echo "ok: abi: $name: incompatible with $(basename "$base"), SONAME $old_soname -> $new_soname"
  else
    echo "ok: abi: $name: compatible with $(basename "$base") (${added:-0} functions added)"
  fi
done
exit $rc_all
