#!/usr/bin/env bash
# Fails when a public symbol of an installed header lacks its /** */
# comment: every SIPFLOW_API function, typedef, struct, enum, macro and
# public struct member in include/sipflow/*.h (and version.h.in), each with
# @since, and each header with @file.
#
# 1. scripts/check_docs.py reads the headers with Python's standard library
#    only: fast, and needs no Doxygen.
# 2. scripts/check_doc_snippets.py checks that every code block the guides
#    quote from a source file (<!-- from FILE --> above it) is still in it.
# 3. If doxygen is installed (and SIPFLOW_CHECK_DOCS_DOXYGEN is not 0), it
#    also runs Doxygen with WARN_IF_UNDOCUMENTED over the same headers and
#    fails on any "is not documented" warning, so the generated reference
#    and this check cannot disagree.
#
# Prints what is undocumented (or quoted wrong), one line each, and exits
# non-zero if anything is. Writes nothing in the source tree.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
status=0

python3 scripts/check_docs.py "$root/include/sipflow" || status=1
python3 scripts/check_doc_snippets.py "$root/docs" || status=1

if [ "${SIPFLOW_CHECK_DOCS_DOXYGEN:-1}" != 0 ] && command -v doxygen >/dev/null; then
  tmp=$(mktemp -d /tmp/sipflow-check-docs.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  version=$(sed -n "s/^ *version: *'\([0-9.]*\)'.*/\1/p" meson.build | head -1)
  IFS=. read -r major minor patch <<<"$version"
  mkdir -p "$tmp/include/sipflow"
  sed -e "s/@VERSION@/$version/; s/@VERSION_MAJOR@/$major/" \
      -e "s/@VERSION_MINOR@/$minor/; s/@VERSION_PATCH@/$patch/" \
      include/sipflow/version.h.in >"$tmp/include/sipflow/version.h"
  # No guide yet is no reason to skip the check: Doxygen needs the file only
  # as the reference's main page.
  guide=$root/docs/guide.md
  [ -f "$guide" ] || { echo "# libsipflow" >"$tmp/guide.md"; guide=$tmp/guide.md; }
  sed -e "s|@VERSION@|$version|" -e "s|@OUTPUT_DIR@|$tmp/out|" \
      -e "s|@TOP_SRCDIR@/docs/guide.md|$guide|g" -e "s|@TOP_SRCDIR@|$root|g" \
      -e "s|@VERSION_H@|$tmp/include/sipflow/version.h|" \
      -e "s|@VERSION_H_DIR@|$tmp/include|g" \
      -e "s|@WARN_LOGFILE@|$tmp/warnings.log|" -e "s|@GENERATE_HTML@|NO|" \
      docs/Doxyfile.in >"$tmp/Doxyfile"
  if ! doxygen "$tmp/Doxyfile" >"$tmp/doxygen.out" 2>&1; then
    cat "$tmp/doxygen.out"
    echo "check-docs: doxygen failed"
    status=1
  else
    # Helpers named with a trailing '_' are #undef'd internals (the error
    # X-macro's expander); everything else must be documented.
    undocumented=$(grep 'is not documented' "$tmp/warnings.log" |
      grep -v 'Member [A-Za-z0-9_]*_[ (]' | sed "s|$root/||; s|$tmp/||" || true)
    if [ -n "$undocumented" ]; then
      echo "$undocumented"
      echo "check-docs: doxygen: $(wc -l <<<"$undocumented") undocumented"
      status=1
    else
      echo "check-docs: doxygen: nothing undocumented"
    fi
  fi
fi
exit $status
