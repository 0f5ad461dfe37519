#!/usr/bin/env bash
# Builds the MongoDB side of the tests from the Go module proxy, once:
# Debian has no MongoDB server, and Debian's prometheus-mongodb-exporter
# (dcu's, 2018, on mgo) cannot talk to a current server (mgo opens every
# connection with `getnonce` over OP_QUERY, which FerretDB refuses).
#
#  - FerretDB (a MongoDB-protocol server on SQLite), ./cmd/ferretdb.
#    `go install` alone gives a binary that panics at start: the module
#    embeds build/version/version.txt, which its zip does not hold. So the
#    module is copied out of the module cache, version.txt written, and the
#    package built in the copy. The suite always runs it with
#    --telemetry=disable (otherwise it would try to reach its vendor).
#  - percona/mongodb_exporter, the version examples/distroless-mongodb names,
#    built as Percona's release is (CGO_ENABLED=0, -s -w, main.version): a
#    static binary, so the image made from it can be FROM scratch as theirs.
#
# Each is cached outside the clone, keyed by the hash of its pinned inputs
# (this script, module version and checksum, the Go version):
# $VAULTEXEC_E2E_CACHE/NAME-HASH/NAME (default
# ${XDG_CACHE_HOME:-~/.cache}/vaultexec-e2e). Prints the two paths last, one
# a line: ferretdb, then mongodb_exporter. Called by tests/e2e/install.sh.
set -euo pipefail
here=$(dirname "$0")
cache="${VAULTEXEC_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vaultexec-e2e}"

# shellcheck source=tests/go-find.sh
. "$here/../go-find.sh"
GO=$(go_find 24)
[[ -n "$GO" ]] || { echo "mongodb-install.sh: a Go >= 1.24 is needed (FerretDB's go.mod says 1.24)" >&2; exit 1; }
export GOPATH="$cache/gopath" GOCACHE="$cache/gocache" GOFLAGS=-modcacherw GOTOOLCHAIN=local

# build NAME MODULE VERSION SUM PACKAGE [GO BUILD FLAGS...]: prints the path.
build() {
	local name=$1 mod=$2 ver=$3 want=$4 pkg=$5 inputs out json dir sum src t0=$SECONDS
	shift 5
	inputs=$({
		sha256sum "$0"
		echo "$mod $ver $want $*"
		"$GO" version
	} | sha256sum | cut -c1-16)
	out=$cache/$name-$inputs
	if [[ -x $out/$name ]]; then
		echo "$out/$name"
		return 0
	fi
	echo "building $mod $ver with $("$GO" version) (once; minutes)" >&2
	json=$("$GO" mod download -json "$mod@$ver")
	read -r dir sum < <(python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["Dir"], j["Sum"])' <<<"$json")
	[[ $sum == "$want" ]] || { echo "mongodb-install.sh: $mod@$ver has checksum $sum, pinned $want" >&2; return 1; }
	src=$(mktemp -d)
	cp -r "$dir/." "$src/"
	chmod -R u+w "$src"
	[[ $name != ferretdb ]] || printf '%s' "$ver" >"$src/build/version/version.txt"
	mkdir -p "$out"
	if ! (cd "$src" && "$GO" build -trimpath -o "$out/$name.tmp" "$@" "$pkg"); then
		rm -rf "$src"
		return 1
	fi
	rm -rf "$src"
	mv "$out/$name.tmp" "$out/$name"
	# Builds of other inputs are of no use any more.
	find "$cache" -maxdepth 1 -name "$name-*" ! -name "${out##*/}" -exec rm -rf {} +
	echo "built $name $ver in $((SECONDS - t0)) s" >&2
	echo "$out/$name"
}

build ferretdb github.com/FerretDB/FerretDB v1.24.2 \
	h1:trrUU0LbmusMbyubhPS1IELncvrIwKrsRT2LW1UUWCw= ./cmd/ferretdb
CGO_ENABLED=0 build mongodb_exporter github.com/percona/mongodb_exporter v0.43.1 \
	h1:Jv+n4sp2ToSQJMastmEcaQeUB9cQd1zE+itjusbfS/s= . \
	-ldflags "-s -w -X main.version=v0.43.1 -X main.commit=module-proxy -X main.buildDate=module-proxy"
