#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, builds,
# runs the unit tests (meson test) and the integration suite (pytest,
# against a real OpenBao started by the tests).  A skipped required test
# fails the run.  Set VAULTEXEC_NO_INSTALL=1 to skip the install step.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	bash tests/install-deps.sh
fi

echo "== build"
if [[ ! -f build/build.ninja ]]; then
	meson setup build
fi
ninja -C build

echo "== unit tests"
meson test -C build --print-errorlogs

echo "== integration tests"
export VAULTEXEC_BIN="$PWD/build/src/vaultexec"
python3 -m pytest tests/integration -q -rfEs -p no:cacheprovider "$@"
