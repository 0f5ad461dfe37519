# Sourced by the suite runners under tests/ (engine/run.sh, k8s/run.sh):
# `timed NAME COMMAND...` runs COMMAND and keeps its time and exit status
# in the times array, which the runner prints at its end.
# shellcheck shell=bash
times=()
timed() { # timed NAME COMMAND...
	local name=$1 t0=$SECONDS rc=0
	shift
	"$@" || rc=$?
	times+=("$name: $((SECONDS - t0)) s (exit $rc)")
	return $rc
}
