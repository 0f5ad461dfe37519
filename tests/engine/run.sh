#!/usr/bin/env bash
# The Docker images built and run by a real Docker engine (tests/run-all.sh
# runs this as one step; its results count in the closing summary).
#
#   tests/engine/run.sh [PYTEST ARGS...]
#
#  1. installs docker.io, debootstrap, busybox-static and the Compose v2
#     plugin if missing (tests/engine/install.sh; VAULTEXEC_NO_INSTALL=1
#     skips it);
#  2. starts Debian's dockerd with its data root under build/docker, no
#     default bridge and no iptables rules, on a socket of its own, behind
#     the registry guard (tests/engine/dockerd.sh); it is stopped at the
#     end, also on failure or interruption, after every container is removed;
#  3. makes debian:12-slim locally (tests/engine/base-image.sh) and a
#     stand-in for alpine:3.22 from busybox-static
#     (tests/engine/alpine-standin.sh); both cached;
#  4. runs tests/engine with pytest (junit XML: build/junit/engine.xml):
#     Dockerfile.scratch, a distroless exporter extended by the README's two
#     lines, examples/distroless-mongodb/Dockerfile as committed on a local
#     percona/mongodb_exporter:0.43.1 against FerretDB, Dockerfile.alpine
#     (both stages, and bank-vaults' cp of vault-env in it),
#     examples/docker-compose.yml under Compose v2 with local images and the
#     host's network (test_compose.py), and last that no build or run asked
#     a registry (test_zz_no_registry.py);
#  5. prints the figures (build times, image sizes, the Compose run's up results) and the
#     time of each step.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export ENGINE_DIR=$root/build/docker
junit=${VAULTEXEC_JUNIT_DIR:-$root/build/junit}
mkdir -p "$ENGINE_DIR" "$junit"
rm -f "$ENGINE_DIR/figures.txt"
# shellcheck source=tests/timed.sh
. tests/timed.sh

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	timed "install (docker.io, debootstrap, Compose v2)" bash tests/engine/install.sh
fi

# shellcheck source=tests/engine/dockerd.sh
. tests/engine/dockerd.sh
finish() {
	local rc=$?
	trap - EXIT INT TERM
	t0=$SECONDS
	engine_stop
	times+=("stop the engine: $((SECONDS - t0)) s")
	echo
	echo "== Docker engine suite: figures"
	[[ -f $ENGINE_DIR/figures.txt ]] && cat "$ENGINE_DIR/figures.txt"
	printf '%s\n' "${times[@]}"
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

timed "start dockerd" engine_start
timed "debian:12-slim (debootstrap + docker import, cached)" bash tests/engine/base-image.sh
timed "alpine:3.22 stand-in (busybox-static + docker import, cached)" bash tests/engine/alpine-standin.sh
export VAULTEXEC_BIN=${VAULTEXEC_BIN:-$root/build/src/vaultexec}
timed "pytest tests/engine" python3 -m pytest tests/engine -q -rfEs -p no:cacheprovider \
	--junitxml="$junit/engine.xml" "$@"
