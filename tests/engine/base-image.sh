#!/usr/bin/env bash
# Makes the image debian:12-slim in the running engine (DOCKER_HOST) without
# a registry: `debootstrap --variant=minbase bookworm`, the apt sources of the
# Docker Hub image (bookworm, -updates, -security), apt's lists and caches
# emptied, then `docker import`. The machine's extra CA certificates
# (/usr/local/share/ca-certificates/*.crt: a TLS-intercepting proxy's) go
# into the same place in the image, so that ca-certificates, when a builder
# installs it, trusts them too, and pip is pointed at that bundle: downloads
# inside a builder take the same path as the host's.
#
# Cached between runs by the hash of its inputs (this script, the mirror,
# debootstrap's version, the CA files): the rootfs tarball in
# $VAULTEXEC_DOCKER_CACHE (default ~/.cache/vaultexec-docker), the image in
# the engine (label vaultexec.base-inputs). Prints the seconds it took.
set -euo pipefail
DOCKER=${DOCKER:-/usr/bin/docker}
MIRROR=${VAULTEXEC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${VAULTEXEC_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vaultexec-docker}
t0=$SECONDS

cas=()
for c in /usr/local/share/ca-certificates/*.crt; do [[ -f $c ]] && cas+=("$c"); done
inputs=$({
	sha256sum "$0"
	echo "$MIRROR"
	dpkg-query -W -f='${Version}\n' debootstrap
	((${#cas[@]})) && sha256sum "${cas[@]}"
} | sha256sum | cut -c1-16)

have=$("$DOCKER" image inspect -f '{{index .Config.Labels "vaultexec.base-inputs"}}' debian:12-slim 2>/dev/null || true)
if [[ $have == "$inputs" ]]; then
	echo "debian:12-slim: in the engine already (inputs $inputs)"
	exit 0
fi

mkdir -p "$cache"
tarball=$cache/debian-12-minbase-$inputs.tar
if [[ ! -s $tarball ]]; then
	command -v debootstrap >/dev/null || { echo "base-image.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
	work=$(mktemp -d "$cache/rootfs.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "debian:12-slim: debootstrap --variant=minbase bookworm (once per inputs $inputs)"
	if ! debootstrap --variant=minbase bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
		tail -30 "$work/debootstrap.log" >&2
		exit 1
	fi
	r=$work/root
	rm -f "$r/etc/apt/sources.list"
	mkdir -p "$r/etc/apt/sources.list.d"
	cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $MIRROR-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	if ((${#cas[@]})); then
		mkdir -p "$r/usr/local/share/ca-certificates"
		cp "${cas[@]}" "$r/usr/local/share/ca-certificates/"
		printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$r/etc/pip.conf"
	fi
	rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin "$r/var/cache/apt/archives/"*.deb \
		"$r/var/log/"*.log "$r/etc/resolv.conf" "$r/etc/hostname"
	tar -C "$r" --numeric-owner -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	# Older tarballs of other inputs are of no use any more.
	find "$cache" -maxdepth 1 -name 'debian-12-minbase-*.tar' ! -name "${tarball##*/}" -delete
fi
"$DOCKER" import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["bash"]' \
	--change "LABEL vaultexec.base-inputs=$inputs" \
	"$tarball" debian:12-slim >/dev/null
echo "debian:12-slim: imported from $tarball ($(du -m "$tarball" | cut -f1) MB) in $((SECONDS - t0)) s"
