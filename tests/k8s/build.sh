#!/usr/bin/env bash
# Builds the one-node cluster's programs once and prints the directory that
# holds them: kube-apiserver, kubelet and kubectl (Kubernetes v1.37.2), etcd
# (v3.7.4), all from the Go module proxy, and pause, compiled static from
# Kubernetes' own build/pause/linux/pause.c in the module cache.
#
#   tests/k8s/build.sh          -> prints $CACHE/<hash>/bin on the last line
#
# The versions are pinned by the two wrapper modules beside this script
# (kubernetes/: require k8s.io/kubernetes v1.37.2 and a replace of every
# k8s.io staging module with its published v0.37.2; etcd/: require
# go.etcd.io/etcd/server/v3 v3.7.4, whose main package is built: `go install`
# refuses it for the replace directives of its own go.mod), with their
# go.sum.  The binaries are kept in $VAULTEXEC_K8S_CACHE (default
# /var/cache/vaultexec-k8s) under the hash of those files, this script and
# the Go version: a second run only checks.  The Go build and module caches
# are Go's defaults, so an earlier build of the same module graph with the
# same flags is reused.  Cold, on 2 cores: about 20 min (kube-apiserver is
# most of it), 2.8 GB of memory at the peak.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.37.2
cache=${VAULTEXEC_K8S_CACHE:-/var/cache/vaultexec-k8s}

# shellcheck source=tests/go-find.sh
. "$here/../go-find.sh"
GO=$(go_find 26)
[[ -n $GO ]] || { echo "tests/k8s/build.sh: Kubernetes $K8S_VERSION needs a Go >= 1.26 (go.mod says go 1.26.0); none found on PATH, in /usr/lib/go-1.NN or /usr/local/go" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

hash=$({
	"$GO" version
	cat "$0"
	for f in kubernetes/go.mod kubernetes/go.sum kubernetes/tools.go etcd/go.mod etcd/go.sum etcd/tools.go; do
		cat "$here/$f"
	done
} | sha256sum | cut -c1-16)
out=$cache/$hash/bin
progs=(kube-apiserver kubelet kubectl etcd pause)
have=1
for p in "${progs[@]}"; do [[ -x $out/$p ]] || have=0; done
if [[ $have == 1 ]]; then
	echo "tests/k8s/build.sh: cached ($out)" >&2
	echo "$out"
	exit 0
fi

mkdir -p "$cache/$hash"
stage=$(mktemp -d "$cache/$hash/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
t0=$SECONDS
echo "tests/k8s/build.sh: building Kubernetes $K8S_VERSION and etcd v3.7.4 with $("$GO" version) into $out (cold: about 20 min on 2 cores)" >&2
(cd "$here/etcd" && "$GO" build -o "$stage/etcd" go.etcd.io/etcd/server/v3)
echo "  etcd: $((SECONDS - t0)) s" >&2
(cd "$here/kubernetes" && "$GO" build -o "$stage/" \
	-ldflags "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl)
echo "  kube-apiserver, kubelet, kubectl: $((SECONDS - t0)) s" >&2
# pause.c from the module cache (the module zip carries build/), built the
# way its Makefile does (-Os -Wall -Werror -static), with glibc.
moddir=$(cd "$here/kubernetes" && "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes)
gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION-vaultexec" -o "$stage/pause" "$moddir/build/pause/linux/pause.c"
strip "$stage/pause"
mkdir -p "$out"
for p in "${progs[@]}"; do mv -f "$stage/$p" "$out/$p"; done
echo "tests/k8s/build.sh: built in $((SECONDS - t0)) s" >&2
echo "$out"
