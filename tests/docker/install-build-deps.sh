#!/usr/bin/env bash
# Installs, as root on Debian 12, what `tests/docker/build-static.sh --test
# ARCH` needs, and nothing else: the Dockerfiles' builder stage runs it.
# (CI installs a superset with tests/install-deps.sh, plus
# tests/arm64/install.sh for arm64; the package names for the cross
# toolchain are the same.)  Idempotent: what is present is not fetched again.
#
#   tests/docker/install-build-deps.sh ARCH      ARCH: amd64 | arm64 (TARGETARCH)
#
# Always: gcc, cmake, ninja, python3, patch, binutils, ca-certificates and
# debian-archive-keyring (deps.py's source fallback), openssl (the static
# smoke test's certificates), file; meson >= 1.3 from PyPI in a venv (Debian
# 12's meson is 1.0), linked into /usr/local/bin, as tests/install-deps.sh does.
#
# For the target:
#   ARCH = build machine   musl-tools (musl-dev for that architecture)
#   arm64 on x86_64        dpkg --add-architecture arm64; gcc-aarch64-linux-gnu
#                          musl-dev:arm64 qemu-user
#   amd64 on aarch64       dpkg --add-architecture amd64; gcc-x86-64-linux-gnu
#                          musl-dev:amd64 qemu-user
# qemu-user (without its recommended qemu-user-binfmt) runs the cross-built
# tests: meson calls qemu-aarch64 / qemu-x86_64 itself, nothing is
# registered with binfmt_misc and the Docker host needs no emulation set up.
set -euo pipefail

VENV=${VAULTEXEC_VENV:-/opt/vaultexec-venv}
me=tests/docker/install-build-deps.sh

(($# == 1)) || { echo "usage: $me ARCH (amd64 | arm64)" >&2; exit 2; }
case $1 in
amd64 | x86_64) cpu=x86_64 deb=amd64 ;;
arm64 | aarch64) cpu=aarch64 deb=arm64 ;;
"") echo "$me: ARCH is empty (TARGETARCH is set by BuildKit: use docker buildx build, or Docker >= 23)" >&2; exit 2 ;;
*) echo "$me: unsupported ARCH '$1' (amd64 or arm64)" >&2; exit 2 ;;
esac
build_cpu=${VAULTEXEC_BUILD_CPU:-$(uname -m)}

pkgs=(gcc libc6-dev binutils cmake ninja-build python3 python3-venv patch
	ca-certificates debian-archive-keyring openssl file)
foreign=""
case $cpu/$build_cpu in
x86_64/x86_64 | aarch64/aarch64) pkgs+=(musl-tools) ;;
aarch64/x86_64) foreign=arm64 pkgs+=(gcc-aarch64-linux-gnu musl-dev:arm64 qemu-user) ;;
x86_64/aarch64) foreign=amd64 pkgs+=(gcc-x86-64-linux-gnu musl-dev:amd64 qemu-user) ;;
*) echo "$me: cannot build for $deb on a $build_cpu machine" >&2; exit 1 ;;
esac

if [[ -n $foreign ]] && ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
	dpkg --add-architecture "$foreign"
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

meson_ok() {
	command -v meson >/dev/null &&
		meson --version | awk -F. '{ exit !($1 > 1 || ($1 == 1 && $2 >= 3)) }'
}
if ! meson_ok; then
	[[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir 'meson>=1.3'
	ln -sf "$VENV/bin/meson" /usr/local/bin/meson
	hash -r
fi

meson --version >/dev/null
for tool in cmake ninja patch readelf openssl; do
	command -v "$tool" >/dev/null || { echo "$me: $tool missing after install" >&2; exit 1; }
done
