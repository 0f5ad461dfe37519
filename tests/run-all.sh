#!/usr/bin/env bash
# The one command that runs every test: installs what is missing, builds
# the dynamic and the static binary, runs the unit tests (meson test), and
# the integration suite (pytest, against a real OpenBao started by the
# tests, including the bare-root-filesystem runs of the static binary) and
# the end-to-end suite (real databases and exporters started through
# vaultexec).
# A skipped required test fails the run.  VAULTEXEC_NO_INSTALL=1 skips the
# install step.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	bash tests/install-deps.sh
	bash tests/e2e/install.sh
fi

echo "== build (dynamic, for the tests)"
[[ -f build/build.ninja ]] || meson setup build
ninja -C build

echo "== build (static musl, the release binary)"
[[ -f build-static/build.ninja ]] ||
	meson setup build-static --native-file subprojects/musl-x86_64.ini -Dstatic=true >build-static.log 2>&1 ||
	{ cat build-static.log; exit 1; }
ninja -C build-static >>build-static.log 2>&1 || { tail -50 build-static.log; exit 1; }
python3 tests/static/size-report.py build-static | head -20

echo "== unit tests"
meson test -C build --print-errorlogs
meson test -C build-static --print-errorlogs

echo "== integration tests"
export VAULTEXEC_BIN="$PWD/build/src/vaultexec"
export VAULTEXEC_STATIC_BIN="$PWD/build-static/src/vaultexec"
# One pytest run for the integration and the end-to-end suites, so its
# closing line counts every test.
python3 -m pytest tests/integration tests/e2e -q -rfEs -p no:cacheprovider "$@"
