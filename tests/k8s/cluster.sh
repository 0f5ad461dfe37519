# Sourced by tests/k8s/run.sh: a one-node Kubernetes cluster on 127.0.0.1.
# shellcheck shell=bash
#
#   k8s_start   etcd and kube-apiserver on loopback ports of their own (an
#               openssl-made CA, service-account signing keys, Node,RBAC),
#               then containerd and the kubelet inside one private mount
#               and PID namespace (NS_PID, its init a small reaper), and
#               the cluster objects every test needs.  Exports KUBECONFIG,
#               K8S_* (see the end of k8s_start).
#   k8s_stop    kills what k8s_start started, by pid: the namespace's init
#               (the kernel then kills everything in it: containerd, its
#               shims, the kubelet, every container), the API server, etcd;
#               then removes the cgroups the kubelet made.  Safe to call
#               twice and when nothing was started.
#
# Needs K8S_BIN (tests/k8s/build.sh) and K8S_DIR (the run's directory).
#
# What stays private to the namespace (nothing of it is seen on the host):
#  - /run is a new tmpfs (containerd's state, runc's root, the shims'
#    sockets), /var/log too (the kubelet's pod and container logs);
#  - the kubelet's tmpfs and bind mounts (projected service-account
#    tokens, emptyDirs) under its root directory $K8S_DIR/kubelet;
#  - /etc/hosts: the host's plus the names the example manifests use
#    (openbao.openbao.svc, postgres), all 127.0.0.1; a hostNetwork pod's
#    /etc/hosts is a copy of the kubelet's;
#  - the kernel settings the kubelet writes at start (vm.overcommit_memory,
#    vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
#    kernel.keys.root_maxkeys, kernel.keys.root_maxbytes): each file under
#    /proc/sys is covered by a bind mount of a file of ours holding the
#    host's value, so the kubelet writes into that file.
# What the host does get, and k8s_stop takes back: the cgroup
# K8S_CGROUP_ROOT in every v1 hierarchy (pods go below it).  No iptables
# rule is made (makeIPTablesUtilChains: false; containerd has no CNI
# network: every pod is hostNetwork, with nodeName set, no scheduler).

K8S_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
	kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
K8S_NODE=vx-node
K8S_PIDS=()
NS_PID=""

k8s_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# k8s_cert NAME CN [O] [SAN]: a key and a certificate signed by the CA.
k8s_cert() {
	local d=$K8S_DIR/pki name=$1 cn=$2 o=${3:-} san=${4:-}
	local subj="/CN=$cn"
	[[ -n $o ]] && subj="/O=$o/CN=$cn"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$name.key" -out "$d/$name.csr" \
		-subj "$subj" 2>/dev/null
	local ext=$d/$name.ext
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[[ -n $san ]] && echo "subjectAltName=$san"
	} >"$ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -sha256 -extfile "$ext" -out "$d/$name.crt" 2>/dev/null
}

k8s_kubeconfig() { # FILE CERTNAME
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: vx
  cluster: {server: "https://127.0.0.1:$K8S_API_PORT", certificate-authority: "$K8S_DIR/pki/ca.crt"}
users:
- name: u
  user: {client-certificate: "$K8S_DIR/pki/$2.crt", client-key: "$K8S_DIR/pki/$2.key"}
contexts:
- name: vx
  context: {cluster: vx, user: u}
current-context: vx
EOF
}

# k8s_wait WHAT SECONDS PID COMMAND...: until COMMAND succeeds, while PID lives.
k8s_wait() {
	local what=$1 secs=$2 pid=$3 i
	shift 3
	for ((i = 0; i < secs * 4; i++)); do
		if "$@" >/dev/null 2>&1; then
			echo "  $what: up in $((i / 4)) s"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$what exited at start" >&2
			return 1
		fi
		sleep 0.25
	done
	echo "$what: not up in $secs s" >&2
	return 1
}

k8s_in_ns() { # COMMAND...: run in the namespace (absolute paths: nsenter -m resets the cwd)
	nsenter -t "$NS_PID" -m -p -- "$@"
}

k8s_start() {
	: "${K8S_BIN:?}" "${K8S_DIR:?}"
	local d=$K8S_DIR
	rm -rf "$d"
	mkdir -p "$d/pki" "$d/etcd" "$d/logs" "$d/kubelet" "$d/containerd" "$d/cni/net.d" "$d/cni/bin" "$d/sysctl"
	K8S_TAG=$(printf %s "$d" | sha256sum | cut -c1-8)
	K8S_CGROUP_ROOT=/vaultexec-k8s-$K8S_TAG
	K8S_ETCD_PORT=$(k8s_free_port)
	K8S_ETCD_PEER_PORT=$(k8s_free_port)
	K8S_API_PORT=$(k8s_free_port)
	K8S_KUBELET_PORT=$(k8s_free_port)
	K8S_CONTAINERD_SOCK=$d/containerd.sock

	# --- PKI
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/pki/ca.key" -out "$d/pki/ca.crt" \
		-subj "/CN=vaultexec-test-kubernetes-ca" -days 2 2>/dev/null
	k8s_cert apiserver kube-apiserver "" \
		"IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:10.96.0.1"
	k8s_cert admin admin system:masters
	k8s_cert apiserver-kubelet kube-apiserver-kubelet-client system:masters
	k8s_cert node "system:node:$K8S_NODE" system:nodes
	k8s_cert kubelet-serving "$K8S_NODE" "" "IP:127.0.0.1,DNS:$K8S_NODE"
	openssl genrsa -out "$d/pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$d/pki/sa.key" -pubout -out "$d/pki/sa.pub" 2>/dev/null
	k8s_kubeconfig "$d/admin.kubeconfig" admin
	k8s_kubeconfig "$d/kubelet.kubeconfig" node
	export KUBECONFIG=$d/admin.kubeconfig

	# --- etcd, kube-apiserver
	"$K8S_BIN/etcd" --name vx --data-dir "$d/etcd" \
		--listen-client-urls "http://127.0.0.1:$K8S_ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$K8S_ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$K8S_ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$K8S_ETCD_PEER_PORT" \
		--initial-cluster "vx=http://127.0.0.1:$K8S_ETCD_PEER_PORT" \
		--listen-metrics-urls "" --unsafe-no-fsync >"$d/logs/etcd.log" 2>&1 &
	K8S_ETCD_PID=$!
	K8S_PIDS+=("$K8S_ETCD_PID")
	k8s_wait etcd 30 "$K8S_ETCD_PID" curl -fsS "http://127.0.0.1:$K8S_ETCD_PORT/health" || return 1

	"$K8S_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$K8S_ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$K8S_API_PORT" \
		--tls-cert-file "$d/pki/apiserver.crt" --tls-private-key-file "$d/pki/apiserver.key" \
		--client-ca-file "$d/pki/ca.crt" \
		--service-account-key-file "$d/pki/sa.pub" \
		--service-account-signing-key-file "$d/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--authorization-mode Node,RBAC --service-cluster-ip-range 10.96.0.0/24 \
		--endpoint-reconciler-type none \
		--kubelet-client-certificate "$d/pki/apiserver-kubelet.crt" \
		--kubelet-client-key "$d/pki/apiserver-kubelet.key" \
		--cert-dir "$d/apiserver-certs" --profiling=false >"$d/logs/kube-apiserver.log" 2>&1 &
	K8S_API_PID=$!
	K8S_PIDS+=("$K8S_API_PID")
	k8s_wait kube-apiserver 120 "$K8S_API_PID" curl -fsS --cacert "$d/pki/ca.crt" \
		--cert "$d/pki/admin.crt" --key "$d/pki/admin.key" \
		"https://127.0.0.1:$K8S_API_PORT/readyz" || return 1

	# --- the private mount and PID namespace.  Its init is a shell that
	# reaps what is re-parented to it (the containerd shims' children).
	unshare --mount --propagation private --pid --fork --mount-proc \
		bash -c 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done' &
	local unshare_pid=$! i
	for ((i = 0; i < 40; i++)); do
		NS_PID=$(awk "{print \$1}" "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null)
		[[ -n $NS_PID ]] && break
		sleep 0.1
	done
	[[ -n $NS_PID ]] || { echo "the namespace did not start" >&2; return 1; }
	K8S_PIDS+=("$unshare_pid")
	local s
	for s in "${K8S_SYSCTLS[@]}"; do
		cat "/proc/sys/$s" >"$d/sysctl/${s//\//.}"
	done
	cat /etc/hosts >"$d/hosts"
	echo "127.0.0.1 openbao.openbao.svc postgres postgres.monitoring.svc $K8S_NODE" >>"$d/hosts"
	echo "nameserver 127.0.0.1" >"$d/resolv.conf"
	# shellcheck disable=SC2016 # expanded by the inner shell
	k8s_in_ns bash -euc '
		d=$1
		shift
		mount -t tmpfs -o mode=0755 tmpfs /run
		mount -t tmpfs -o mode=0755 tmpfs /var/log
		mount --bind "$d/hosts" /etc/hosts
		for s; do mount --bind "$d/sysctl/${s//\//.}" "/proc/sys/$s"; done
	' - "$d" "${K8S_SYSCTLS[@]}"

	# --- containerd (Debian's 1.6), its own root, state and socket
	cat >"$d/containerd/config.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "/run/containerd"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$K8S_CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "vaultexec.test/pause:local"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$d/cni/bin"
    conf_dir = "$d/cni/net.d"
EOF
	k8s_in_ns containerd --config "$d/containerd/config.toml" >"$d/logs/containerd.log" 2>&1 &
	K8S_CONTAINERD_PID=$!
	K8S_PIDS+=("$K8S_CONTAINERD_PID")
	k8s_wait containerd 30 "$K8S_CONTAINERD_PID" ctr --address "$K8S_CONTAINERD_SOCK" version || return 1

	# --- the pause image: the sandbox every pod starts with
	local ctx=$d/pause-image
	mkdir -p "$ctx"
	cp "$K8S_BIN/pause" "$ctx/pause"
	printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
	"$DOCKER" build -q -t vaultexec.test/pause:local "$ctx" >/dev/null
	k8s_import vaultexec.test/pause:local || return 1

	# --- kubelet
	local c
	for c in /sys/fs/cgroup/*/; do
		mkdir -p "$c${K8S_CGROUP_ROOT#/}"
	done
	cat >"$d/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $K8S_KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
cgroupDriver: cgroupfs
cgroupRoot: $K8S_CGROUP_ROOT
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://$K8S_CONTAINERD_SOCK
resolvConf: $d/resolv.conf
tlsCertFile: $d/pki/kubelet-serving.crt
tlsPrivateKeyFile: $d/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $d/pki/ca.crt}
authorization: {mode: AlwaysAllow}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
fileCheckFrequency: 1s
syncFrequency: 5s
EOF
	k8s_in_ns "$K8S_BIN/kubelet" --config "$d/kubelet/config.yaml" \
		--kubeconfig "$d/kubelet.kubeconfig" --root-dir "$d/kubelet" \
		--hostname-override "$K8S_NODE" --node-ip 127.0.0.1 --cert-dir "$d/kubelet/pki" \
		>"$d/logs/kubelet.log" 2>&1 &
	K8S_KUBELET_PID=$!
	K8S_PIDS+=("$K8S_KUBELET_PID")
	k8s_wait "kubelet (node registered)" 120 "$K8S_KUBELET_PID" \
		"$K8S_BIN/kubectl" get node "$K8S_NODE" || return 1
	export K8S_NODE K8S_API_PORT K8S_DIR K8S_BIN K8S_CONTAINERD_SOCK K8S_CGROUP_ROOT NS_PID
	echo "  cluster: API https://127.0.0.1:$K8S_API_PORT, node $K8S_NODE, namespace init pid $NS_PID, cgroup $K8S_CGROUP_ROOT"
}

# k8s_import IMAGE: from the private Docker engine into containerd's k8s.io
# namespace (docker save | ctr images import): pods run it with
# imagePullPolicy: Never, nothing is ever pulled.
k8s_import() {
	"$DOCKER" save "$1" | ctr --address "$K8S_CONTAINERD_SOCK" -n k8s.io images import - >/dev/null
}

k8s_stop() {
	[[ ${#K8S_PIDS[@]} -gt 0 ]] || return 0
	local p i
	# The namespace first: KILL to its init ends every process in it.  Then
	# the rest, KILLed too: the cluster's state is thrown away, and the API
	# server's graceful shutdown alone takes over 10 s.
	[[ -n $NS_PID ]] && { kill -KILL "$NS_PID" 2>/dev/null || true; }
	for p in "${K8S_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	# Only ours: the caller's shell may have other children (dockerd).
	wait "${K8S_PIDS[@]}" 2>/dev/null || true
	# The cgroups the kubelet and runc made, deepest first, in every
	# hierarchy; a cgroup empties a moment after its last process died.
	if [[ -n ${K8S_CGROUP_ROOT:-} ]]; then
		for ((i = 0; i < 20; i++)); do
			local left=0 c
			for c in /sys/fs/cgroup/*/; do
				[[ -d $c${K8S_CGROUP_ROOT#/} ]] || continue
				find "$c${K8S_CGROUP_ROOT#/}" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
			done
			[[ $left == 0 ]] && break
			sleep 0.5
		done
	fi
	K8S_PIDS=()
	NS_PID=""
	echo "cluster stopped"
}
