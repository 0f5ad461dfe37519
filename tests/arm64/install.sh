#!/usr/bin/env bash
# Installs what the arm64 (aarch64) static build and its tests need on a
# Debian 12 x86_64 machine, as root, on top of tests/install-deps.sh (run
# first here; VAULTEXEC_NO_INSTALL=1 skips that part).  Idempotent: nothing
# is fetched when everything is present.
#
#   gcc-aarch64-linux-gnu  the cross compiler (Debian's, glibc-targeted; the
#                          musl specs file makes it build against musl)
#   musl-dev:arm64         aarch64 musl: headers in /usr/include/aarch64-linux-musl,
#                          libc.a, crt*.o and musl-gcc.specs in /usr/lib/aarch64-linux-musl.
#                          Multi-Arch: same and its files live under the
#                          aarch64 triplet, so it installs next to musl-dev:amd64
#                          (musl-tools' native x86_64 build stays as it is).
#   qemu-user              qemu-aarch64, to run the arm64 programs.  Installed
#                          WITHOUT its recommended qemu-user-binfmt: the tests
#                          must not register binfmt_misc handlers on the
#                          machine; they call qemu-aarch64 explicitly.
#                          (qemu-user-static is not used for the same reason:
#                          in Debian 12 it ships the binfmt registration.)
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	bash tests/install-deps.sh
fi

need_update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	need_update=1
fi

pkgs=(gcc-aarch64-linux-gnu musl-dev:arm64 qemu-user)
# shellcheck source=tests/apt-missing.sh
. "$(dirname "$0")/../apt-missing.sh"
if ((need_update)); then
	apt_install_missing "${pkgs[@]}"
else
	APT_SKIP_UPDATE=1 apt_install_missing "${pkgs[@]}"
fi

# What the cross file and the tests rely on.
for f in /usr/lib/aarch64-linux-musl/musl-gcc.specs /usr/lib/aarch64-linux-musl/libc.a \
	/usr/lib/aarch64-linux-musl/rcrt1.o /usr/include/aarch64-linux-musl/stdio.h; do
	[[ -e "$f" ]] || { echo "tests/arm64/install.sh: $f missing after install" >&2; exit 1; }
done
command -v aarch64-linux-gnu-gcc >/dev/null
command -v qemu-aarch64 >/dev/null
