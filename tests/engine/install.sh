#!/usr/bin/env bash
# Installs what the Docker engine suite (tests/engine/run.sh) needs on
# Debian 12, as root. Idempotent.
#
#  - docker.io (Docker 20.10: dockerd, containerd, runc, and the client
#    /usr/bin/docker with BuildKit built in), debootstrap (the local
#    debian:12-slim) and busybox-static (the local stand-in for
#    alpine:3.22), from apt. Nothing is started here (run.sh starts its
#    own dockerd); on a machine with systemd the units apt enabled are
#    stopped and disabled.
#  - Docker Compose v2 as the client's CLI plugin
#    (/usr/local/lib/docker/cli-plugins/docker-compose): Debian 12's
#    docker-compose is 1.29, which reads no `configs: content:` (the
#    example's stack uses it). Built from the Go module proxy with a Go >=
#    1.21 (tests/e2e/install.sh installs one where Debian's is too old), once:
#    the binary is kept in $VAULTEXEC_DOCKER_CACHE (default
#    ~/.cache/vaultexec-docker) with the module and build caches.
set -euo pipefail
here=$(dirname "$0")
COMPOSE_VERSION=v2.29.7
cache=${VAULTEXEC_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vaultexec-docker}
plugin=/usr/local/lib/docker/cli-plugins/docker-compose

# shellcheck source=tests/apt-missing.sh
. "$here/../apt-missing.sh"
apt_install_missing docker.io debootstrap busybox-static
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
	for u in docker.socket docker containerd; do
		systemctl is-active -q "$u" 2>/dev/null && systemctl stop "$u"
		systemctl disable -q "$u" 2>/dev/null || true
	done
fi

built=$cache/compose-$COMPOSE_VERSION/docker-compose
if [[ -x $built ]] && cmp -s "$built" "$plugin"; then
	exit 0
fi
if [[ ! -x $built ]]; then
	# shellcheck source=tests/go-find.sh
	. "$here/../go-find.sh"
	GO=$(go_find 21)
	[[ -n $GO ]] || { echo "tests/engine/install.sh: a Go >= 1.21 is needed to build Docker Compose $COMPOSE_VERSION (run tests/e2e/install.sh first)" >&2; exit 1; }
	echo "building Docker Compose $COMPOSE_VERSION with $("$GO" version) (once; a few minutes)"
	t0=$SECONDS
	mkdir -p "${built%/*}"
	GOPATH=$cache/gopath GOCACHE=$cache/gocache GOFLAGS=-modcacherw GOTOOLCHAIN=local \
		GOBIN=${built%/*} "$GO" install "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION"
	mv "${built%/*}/cmd" "$built"
	echo "built in $((SECONDS - t0)) s"
fi
install -D -m 0755 "$built" "$plugin"
echo "docker compose $("$plugin" version --short) installed as $plugin"
