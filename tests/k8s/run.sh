#!/usr/bin/env bash
# vaultexec in real Kubernetes pods (tests/run-all.sh runs this as one step;
# its results count in the closing summary).
#
#   tests/k8s/run.sh [PYTEST ARGS...]
#
#  1. installs what is missing (tests/k8s/install.sh; VAULTEXEC_NO_INSTALL=1
#     skips it) and builds the cluster's programs once (tests/k8s/build.sh,
#     cached by the hash of its pinned inputs; run-all.sh starts that build
#     in the background early and this waits for it: K8S_BUILD_PID);
#  2. starts the private Docker engine (tests/engine/dockerd.sh; images are
#     built there as tests/engine builds them, then copied into the
#     cluster's containerd with docker save | ctr images import);
#  3. notes the host's state (the kernel settings the kubelet writes, the
#     mount table, the cgroup hierarchies, iptables-save), starts the
#     one-node cluster (tests/k8s/cluster.sh) and runs tests/k8s with pytest
#     (junit: build/junit/k8s.xml);
#  4. stops the cluster and the engine (also on failure or interruption),
#     then checks that the host is as it was (junit: k8s-host.xml);
#  5. prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export ENGINE_DIR=$root/build/docker
export K8S_DIR=$root/build/k8s
junit=${VAULTEXEC_JUNIT_DIR:-$root/build/junit}
mkdir -p "$ENGINE_DIR" "$junit"
# shellcheck source=tests/timed.sh
. tests/timed.sh

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	timed "install (containerd, runc, gcc, openssl, ...)" bash tests/k8s/install.sh
fi
build_log=$root/build/k8s-build.log
k8s_build() {
	if [[ -n ${K8S_BUILD_PID:-} ]]; then
		# Started by run-all.sh (not our child: no wait), output in $build_log.
		while kill -0 "$K8S_BUILD_PID" 2>/dev/null; do sleep 5; done
	else
		bash tests/k8s/build.sh >"$build_log" 2>&1 || { tail -30 "$build_log" >&2; return 1; }
	fi
	cat "$build_log" >&2
	K8S_BIN=$(tail -1 "$build_log")
	[[ -x $K8S_BIN/kubelet ]]
}
timed "build kube-apiserver, kubelet, kubectl, etcd, pause (cached)" k8s_build
export K8S_BIN

# shellcheck source=tests/engine/dockerd.sh
. tests/engine/dockerd.sh
# shellcheck source=tests/k8s/cluster.sh
. tests/k8s/cluster.sh
export DOCKER
host_state() { # FILE: what the cluster must leave as it found it
	{
		local s
		for s in "${K8S_SYSCTLS[@]}"; do echo "sysctl $s = $(cat "/proc/sys/$s")"; done
		awk '{print "mount " $5 " " $9 " " $4}' /proc/self/mountinfo | sort
		find /sys/fs/cgroup -maxdepth 2 -mindepth 2 -type d | sed 's/^/cgroup /' | sort
		# (no rule at all is an empty output: grep then fails)
		iptables-save 2>/dev/null | { grep -v '^#' || true; } | sed 's/\[[0-9:]*\]$//; s/^/iptables /'
	} >"$1"
}
finish() {
	local rc=$?
	trap - EXIT INT TERM
	timed "stop the cluster" k8s_stop || true
	timed "stop the engine" engine_stop || true
	if [[ -f $K8S_DIR.host-before ]]; then
		host_state "$K8S_DIR.host-after"
		K8S_HOST_BEFORE=$K8S_DIR.host-before K8S_HOST_AFTER=$K8S_DIR.host-after \
			K8S_CGROUP_ROOT=${K8S_CGROUP_ROOT:-} timed "the host as it was (pytest)" \
			python3 -m pytest tests/k8s/host_check.py -q -rfE -p no:cacheprovider \
			--junitxml="$junit/k8s-host.xml" || rc=1
	fi
	echo
	echo "== Kubernetes suite: times"
	printf '%s\n' "${times[@]}"
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

timed "start dockerd" engine_start
timed "debian:12-slim (debootstrap + docker import, cached)" bash tests/engine/base-image.sh
rm -f "$K8S_DIR.host-before" "$K8S_DIR.host-after"
host_state "$K8S_DIR.host-before"
timed "start the cluster" k8s_start
export VAULTEXEC_BIN=${VAULTEXEC_BIN:-$root/build/src/vaultexec}
timed "pytest tests/k8s" python3 -m pytest tests/k8s -q -rfEsP -p no:cacheprovider \
	--junitxml="$junit/k8s.xml" "$@"
