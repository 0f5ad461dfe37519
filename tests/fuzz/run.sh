#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang, ASan and UBSan, replays the
# regression inputs and the seed corpora, then fuzzes each harness for a
# bounded time.  Fails on any crash, leak, UB or broken invariant.
#
#   tests/fuzz/run.sh [SECONDS [HARNESS...]]
#
# SECONDS per harness (default 60, as CI runs it).  Environment:
#   FUZZ_JOBS       harnesses fuzzed at once (default: 2, at most nproc)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-seed=1 -max_len=20000"
#
# New interesting inputs go to $FUZZ_BUILD_DIR/fuzz-corpus/<harness>/ (the
# checked-in seeds under tests/fuzz/corpus/ are only read); crashes to
# $FUZZ_BUILD_DIR/fuzz-artifacts/.  See tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-60}
shift || true
all=(template jsonval config envref util secref http kv vaultenv)
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=("${all[@]}")
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-2}
ncpu=$(nproc 2>/dev/null || echo 1)
((jobs > ncpu)) && jobs=$ncpu
((jobs < 1)) && jobs=1
fuzz=tests/fuzz

if ! command -v clang >/dev/null; then
	echo "run.sh: clang is needed (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi

echo "== build ($build)"
if [[ ! -f $build/build.ninja ]]; then
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dman=disabled \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >/dev/null
fi
if ! ninja -C "$build" >"$build/ninja.log" 2>&1; then
	cat "$build/ninja.log"
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
artifacts=$build/fuzz-artifacts
logs=$build/fuzz-logs
mkdir -p "$artifacts" "$logs"

bin() { echo "$build/tests/fuzz/fuzz_$1"; }

max_len() {
	case $1 in
	util) echo 64 ;;
	secref) echo 512 ;;
	jsonval | http | kv) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

# 1. Every crash found so far, and every seed, must run clean first.
echo "== replay: regressions and seed corpora"
for h in "${harnesses[@]}"; do
	[[ -x $(bin "$h") ]] || { echo "run.sh: no harness '$h' (have: ${all[*]})" >&2; exit 1; }
	files=()
	for d in "$fuzz/regressions/$h" "$fuzz/corpus/$h"; do
		[[ -d $d ]] && while IFS= read -r f; do files+=("$f"); done < <(find "$d" -type f | sort)
	done
	if ! "$(bin "$h")" -close_fd_mask=3 "${files[@]}" >"$logs/replay-$h.log" 2>&1; then
		echo "FAIL replay $h (${#files[@]} inputs):"
		tail -n 40 "$logs/replay-$h.log"
		exit 1
	fi
	printf '  %-9s %4d inputs ok\n' "$h" "${#files[@]}"
done
"$build/tests/fuzz/test_fuzz_regressions" >"$logs/regressions.tap" 2>&1 ||
	{ echo "FAIL tests/fuzz/regressions/test_regressions.c:"; cat "$logs/regressions.tap"; exit 1; }
echo "  $(grep -c '^ok' "$logs/regressions.tap") regression tests ok"

# 2. Fuzz, FUZZ_JOBS harnesses at a time.
echo "== fuzz: ${secs}s per harness, $jobs at a time"
fuzz_one() {
	local h=$1
	mkdir -p "$build/fuzz-corpus/$h"
	local dict=()
	[[ -f $fuzz/dict/$h.dict ]] && dict=(-dict="$fuzz/dict/$h.dict")
	# shellcheck disable=SC2086
	"$(bin "$h")" -max_total_time="$secs" -print_final_stats=1 -close_fd_mask=3 \
		-timeout=20 -rss_limit_mb=2048 -max_len="$(max_len "$h")" "${dict[@]}" \
		-artifact_prefix="$artifacts/$h-" ${FUZZ_ARGS:-} \
		"$build/fuzz-corpus/$h" "$fuzz/corpus/$h" >"$logs/fuzz-$h.log" 2>&1
}

declare -A pid_of
status=0
running=0
start=$SECONDS
for h in "${harnesses[@]}"; do
	if ((running >= jobs)); then
		wait -n || true
		running=$((running - 1))
	fi
	fuzz_one "$h" &
	pid_of[$h]=$!
	running=$((running + 1))
done

printf '%-9s %-6s %14s %10s %8s\n' harness result executions exec/s corpus
total=0
for h in "${harnesses[@]}"; do
	rc=0
	wait "${pid_of[$h]}" || rc=$?
	log=$logs/fuzz-$h.log
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
	result=ok
	if ((rc != 0)); then
		result=FAIL
		status=1
	fi
	printf '%-9s %-6s %14s %10s %8s\n' "$h" "$result" "${execs:-?}" "${eps:-?}" "${corp:-?}"
	total=$((total + ${execs:-0}))
done
echo "total executions: $total in $((SECONDS - start))s"

if ((status)); then
	for h in "${harnesses[@]}"; do
		log=$logs/fuzz-$h.log
		grep -qE '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error)|Test unit written' "$log" || continue
		echo
		echo "---- $h ($log)"
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written|^ +#[0-9]+ ' "$log" | head -n 30
	done
	echo
	echo "A crash input is in $artifacts/.  Reproduce with $(bin HARNESS) FILE, fix it, then"
	echo "keep it: copy it to $fuzz/regressions/HARNESS/ and $fuzz/corpus/HARNESS/ (README.md)."
	exit 1
fi
