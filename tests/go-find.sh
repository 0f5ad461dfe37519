# Sourced by the install scripts under tests/ that build Go programs from the
# Go module proxy: go_ok GO MINOR says whether GO is Go 1.MINOR or later;
# go_find MINOR prints the first such go (on PATH, Debian's
# /usr/lib/go-1.NN, /usr/local/go) or nothing.
# shellcheck shell=bash
go_ok() {
	local v
	v=$("$1" version 2>/dev/null | sed -n 's/^go version go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
	[[ -n "$v" ]] && awk -v v="$v" -v m="$2" 'BEGIN { split(v, a, " "); exit !(a[1] > 1 || (a[1] == 1 && a[2] >= m)) }'
}
go_find() {
	local g
	for g in "$(command -v go || true)" /usr/lib/go-1.[2-9][0-9]/bin/go /usr/local/go/bin/go; do
		if [[ -n "$g" && -x "$g" ]] && go_ok "$g" "$1"; then
			echo "$g"
			return 0
		fi
	done
}
