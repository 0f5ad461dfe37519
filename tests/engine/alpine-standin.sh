#!/usr/bin/env bash
# Makes a local stand-in for alpine:3.22, the base of Dockerfile.alpine's
# final stage, in the running engine (DOCKER_HOST): no registry is asked
# (the suite fails if one is: test_zz_no_registry.py). It is NOT Alpine: a
# root filesystem of Debian's busybox-static (/bin/busybox and a symlink per
# applet in /bin, so `sh -c "cp ..."` runs as in Alpine), the host's CA
# bundle at Alpine's path (/etc/ssl/certs/ca-certificates.crt), and
# /etc/passwd and /etc/group with root and nobody (65534) as Alpine has
# them. Tagged alpine:3.22 inside the private engine only, with the label
# vaultexec.standin saying what it is. Rebuilt when its inputs change (this
# script, busybox-static's version, the CA bundle): label
# vaultexec.base-inputs.
set -euo pipefail
DOCKER=${DOCKER:-/usr/bin/docker}
TAG=alpine:3.22
BUSYBOX=/bin/busybox
CA=/etc/ssl/certs/ca-certificates.crt
t0=$SECONDS
file -L "$BUSYBOX" | grep -q 'statically linked' ||
	{ echo "alpine-standin.sh: $BUSYBOX is not Debian's busybox-static (apt-get install busybox-static)" >&2; exit 1; }
inputs=$({
	sha256sum "$0" "$CA"
	dpkg-query -W -f='${Version}\n' busybox-static
} | sha256sum | cut -c1-16)
have=$("$DOCKER" image inspect -f '{{index .Config.Labels "vaultexec.base-inputs"}}' "$TAG" 2>/dev/null || true)
if [[ $have == "$inputs" ]]; then
	echo "$TAG (stand-in: busybox-static): in the engine already (inputs $inputs)"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r/bin" "$r/etc/ssl/certs" "$r/tmp" "$r/root" "$r/usr/local/bin"
chmod 1777 "$r/tmp"
cp "$BUSYBOX" "$r/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[[ $a == busybox || -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"
done
cp "$CA" "$r/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/:/sbin/nologin' >"$r/etc/passwd"
printf '%s\n' 'root:x:0:root' 'nobody:x:65534:' >"$r/etc/group"
tar -C "$r" --numeric-owner --owner=0 --group=0 -cf "$work/root.tar" .
"$DOCKER" import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["/bin/sh"]' \
	--change "LABEL vaultexec.base-inputs=$inputs" \
	--change 'LABEL vaultexec.standin="not Alpine: Debian busybox-static, made by tests/engine/alpine-standin.sh"' \
	"$work/root.tar" "$TAG" >/dev/null
echo "$TAG (stand-in: busybox-static $(dpkg-query -W -f='${Version}' busybox-static)): imported in $((SECONDS - t0)) s"
