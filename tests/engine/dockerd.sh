# Sourced by tests/engine/run.sh: a private Docker engine for the tests.
# shellcheck shell=bash
#
#   engine_start   starts Debian's dockerd with its data root under
#                  $ENGINE_DIR (build/docker), no default bridge and no
#                  iptables rules (every container uses the host's network,
#                  so all traffic stays on loopback), on its own socket; it
#                  starts its own containerd under the exec root. Exports
#                  DOCKER_HOST and DOCKER_BUILDKIT=1. Its HTTP_PROXY and
#                  HTTPS_PROXY are the registry guard
#                  (tests/engine/registry-guard.py), which refuses every
#                  registry request and logs it in
#                  $ENGINE_DIR/registry-attempts.log (emptied here): no
#                  test may ask a registry (test_zz_no_registry.py).
#   engine_stop    removes every container of this engine, then stops
#                  dockerd (TERM, then KILL after 30 s) and the guard. Safe
#                  to call twice and when nothing was started.
#
# Debian's client is /usr/bin/docker (20.10, BuildKit built in); another
# `docker` earlier on PATH (one that needs the buildx plugin) is never used:
# DOCKER is set to Debian's.

DOCKER=/usr/bin/docker
ENGINE_PID=""
GUARD_PID=""

engine_start() {
	: "${ENGINE_DIR:?}"
	mkdir -p "$ENGINE_DIR/data"
	local i
	# The exec root holds containerd's socket: keep it short (a unix socket
	# path has at most 107 bytes) and private to this tree.
	local tag
	tag=$(printf %s "$ENGINE_DIR" | sha256sum | cut -c1-10)
	ENGINE_EXEC_ROOT=/run/vaultexec-docker-$tag
	ENGINE_SOCK=$ENGINE_EXEC_ROOT.sock
	if [[ -S $ENGINE_SOCK ]] && DOCKER_HOST=unix://$ENGINE_SOCK "$DOCKER" version >/dev/null 2>&1; then
		echo "dockerd: one is already running on $ENGINE_SOCK (a run that was not cleaned up?): stopping it" >&2
		local old
		old=$(cat "$ENGINE_DIR/dockerd.pid" 2>/dev/null || true)
		[[ -n $old ]] && kill "$old" 2>/dev/null && sleep 5
	fi
	rm -f "$ENGINE_SOCK"
	export DOCKER_HOST=unix://$ENGINE_SOCK DOCKER_BUILDKIT=1 DOCKER_CLI_HINTS=false
	export DOCKER_CONFIG=$ENGINE_DIR/client-config
	mkdir -p "$DOCKER_CONFIG"
	: >"$ENGINE_DIR/registry-attempts.log"
	rm -f "$ENGINE_DIR/registry-guard.port"
	python3 "$(dirname "${BASH_SOURCE[0]}")/registry-guard.py" "$ENGINE_DIR/registry-attempts.log" \
		"$ENGINE_DIR/registry-guard.port" &
	GUARD_PID=$!
	for ((i = 0; i < 50; i++)); do
		[[ -s $ENGINE_DIR/registry-guard.port ]] && break
		sleep 0.1
	done
	[[ -s $ENGINE_DIR/registry-guard.port ]] || { echo "the registry guard did not start" >&2; return 1; }
	local guard
	guard=http://127.0.0.1:$(cat "$ENGINE_DIR/registry-guard.port")
	HTTP_PROXY=$guard HTTPS_PROXY=$guard http_proxy=$guard https_proxy=$guard NO_PROXY='' no_proxy='' \
		dockerd --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_EXEC_ROOT" \
		--pidfile "$ENGINE_DIR/dockerd.pid" -H "$DOCKER_HOST" \
		--bridge=none --iptables=false --ip-masq=false --storage-driver=overlay2 \
		>"$ENGINE_DIR/dockerd.log" 2>&1 &
	ENGINE_PID=$!
	for ((i = 0; i < 120; i++)); do
		if "$DOCKER" version >/dev/null 2>&1; then
			echo "dockerd $("$DOCKER" version -f '{{.Server.Version}}') up (pid $ENGINE_PID, data root $ENGINE_DIR/data, $(("$i" / 2)) s)"
			return 0
		fi
		if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
			echo "dockerd exited at start; its log:" >&2
			tail -30 "$ENGINE_DIR/dockerd.log" >&2
			ENGINE_PID=""
GUARD_PID=""
			return 1
		fi
		sleep 0.5
	done
	echo "dockerd did not answer on $DOCKER_HOST within 60 s; its log:" >&2
	tail -30 "$ENGINE_DIR/dockerd.log" >&2
	return 1
}

engine_stop() {
	if [[ -n $GUARD_PID ]]; then
		kill "$GUARD_PID" 2>/dev/null || true
		wait "$GUARD_PID" 2>/dev/null || true
		GUARD_PID=""
	fi
	[[ -n $ENGINE_PID ]] || return 0
	local ids i
	ids=$("$DOCKER" ps -aq 2>/dev/null || true)
	if [[ -n $ids ]]; then
		# shellcheck disable=SC2086
		"$DOCKER" rm -f $ids >/dev/null 2>&1 || true
	fi
	kill -TERM "$ENGINE_PID" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		kill -0 "$ENGINE_PID" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$ENGINE_PID" 2>/dev/null; then
		echo "dockerd did not stop in 30 s: KILL" >&2
		kill -KILL "$ENGINE_PID" 2>/dev/null || true
	fi
	wait "$ENGINE_PID" 2>/dev/null || true
	# A killed dockerd leaves its containerd and shims: end those of this
	# exec root only.
	local p
	for p in $(pgrep -f -- "$ENGINE_EXEC_ROOT" 2>/dev/null || true); do
		kill -KILL "$p" 2>/dev/null || true
	done
	ENGINE_PID=""
GUARD_PID=""
	echo "dockerd stopped"
}
