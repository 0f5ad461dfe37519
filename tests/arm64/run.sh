#!/usr/bin/env bash
# Builds the static aarch64 (arm64) vaultexec by cross-compiling on this
# x86_64 machine and tests it under qemu-user (no binfmt_misc needed or
# registered):
#   1. meson setup/ninja build-static-arm64 (subprojects/musl-aarch64.ini);
#   2. file(1): ARM aarch64, statically linked / static-pie;
#   3. size report (tests/static/size-report.py);
#   4. meson test: the unit tests and the static smoke test under qemu-aarch64;
#   5. pytest tests/integration/test_rootfs.py for arm64 (bare root
#      filesystem under chroot, the emulator inside the root);
#   6. pytest tests/arm64 (a static arm64 executable; the child is an arm64
#      program) and the integration tests marked every_binary, run with the
#      arm64 build (fetch and exec over HTTP and TLS, a wrong CA, --check, 65,
#      127, environment scrubbing, exit codes; see vxlib.targets()).
# Installs what is missing first (tests/arm64/install.sh); VAULTEXEC_NO_INSTALL=1
# skips that.  Extra arguments go to every pytest run.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	bash tests/arm64/install.sh
fi

B=build-static-arm64
echo "== build (static musl, aarch64, cross)"
# The same script the Dockerfiles run; --test runs the unit tests and the
# static smoke test under qemu-aarch64 (the cross file's exe_wrapper).
tests/docker/build-static.sh --test --log $B/build.log arm64

out=$(file -b $B/src/vaultexec)
echo "file: $out"
if [[ $out != *"ARM aarch64"* ]] || [[ $out != *"statically linked"* && $out != *"static-pie linked"* ]]; then
	echo "$B/src/vaultexec is not a static aarch64 executable" >&2
	exit 1
fi
python3 tests/static/size-report.py $B --top 5

echo "== integration tests (qemu-aarch64)"
specs="$PWD/subprojects/static/musl-gcc-aarch64.specs"
# The bare-root-filesystem cases; the valgrind case is for the host build only.
VAULTEXEC_STATIC_BIN="$PWD/$B/src/vaultexec" \
	VAULTEXEC_STATIC_EMU=qemu-aarch64 \
	VAULTEXEC_STATIC_CC="aarch64-linux-gnu-gcc -specs $specs -static" \
	python3 -m pytest tests/integration/test_rootfs.py -q -rfEs -p no:cacheprovider \
	--deselect tests/integration/test_rootfs.py::test_static_binary_under_valgrind \
	${VAULTEXEC_JUNIT_DIR:+--junitxml="$VAULTEXEC_JUNIT_DIR/arm64-rootfs.xml"} "$@"
export VAULTEXEC_ARM64_BIN="$PWD/$B/src/vaultexec" VAULTEXEC_ARM64_EMU=qemu-aarch64
VAULTEXEC_ARM64_CC="aarch64-linux-gnu-gcc -specs $specs -static" \
	python3 -m pytest tests/arm64 -q -rfEs -p no:cacheprovider \
	${VAULTEXEC_JUNIT_DIR:+--junitxml="$VAULTEXEC_JUNIT_DIR/arm64.xml"} "$@"
# With VAULTEXEC_ARM64_BIN set, every_binary tests are parametrised over the
# host and the arm64 build; -k arm64 keeps the arm64 ones (the host ones ran
# in the integration step).
python3 -m pytest tests/integration -q -rfEs -p no:cacheprovider -m every_binary -k arm64 \
	${VAULTEXEC_JUNIT_DIR:+--junitxml="$VAULTEXEC_JUNIT_DIR/arm64-integration.xml"} "$@"
