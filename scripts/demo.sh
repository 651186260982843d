#!/usr/bin/env bash
# The main demo: installs what it needs, builds, and runs the demo program.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ ! -f .build/demo/build.ninja ]; then
  meson setup .build/demo -Dbuildtype=release -Dtests=false -Dbench=false >/dev/null
fi
ninja -C .build/demo >/dev/null
.build/demo/examples/minimal_host
