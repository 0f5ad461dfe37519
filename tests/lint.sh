#!/usr/bin/env bash
# Static analysis: clang-tidy (checks in .clang-tidy) and cppcheck over the
# sources that ship (src/) and the test code (tests/unit, tests/fuzz).
# Both must be clean; exit 1 otherwise.
#
#   tests/lint.sh [FILE...]      (default: every .c file of those trees)
#
# Needs clang, clang-tidy and cppcheck (Debian: apt-get install clang
# clang-tidy cppcheck).  clang-tidy reads the compile commands of a clang
# build directory, build-lint (configured here, never built).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in clang clang-tidy cppcheck; do
	if ! command -v "$tool" >/dev/null; then
		echo "lint.sh: $tool is missing (apt-get install clang clang-tidy cppcheck)" >&2
		exit 1
	fi
done

files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
	mapfile -t files < <(ls src/*.c tests/unit/*.c tests/fuzz/*.c tests/fuzz/regressions/*.c 2>/dev/null)
fi

build="build-lint"
if [[ ! -f $build/compile_commands.json ]]; then
	CC=clang meson setup "$build" -Dfuzz=true -Dman=disabled >/dev/null
fi
# Picks up new files and meson.build edits.
meson setup --reconfigure "$build" >/dev/null

status=0

echo "== clang-tidy ($(clang-tidy --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -n 1), ${#files[@]} files)"
out=$build/clang-tidy.log
# One file per process, as many at once as there are CPUs.
if ! printf '%s\0' "${files[@]}" |
	xargs -0 -n 1 -P "$(nproc)" clang-tidy -p "$build" --quiet >"$out" 2>/dev/null; then
	status=1
fi
if grep -qE '(warning|error):' "$out"; then
	grep -E -A3 '(warning|error):' "$out"
	status=1
else
	echo "  clean"
fi

echo "== cppcheck ($(cppcheck --version))"
# Style noise, suppressed here rather than in the code:
#  unreadVariable         "fd = -1" read by a _cleanup_close_ helper, which
#                         cppcheck does not see (neither does clang-tidy).
#  variableScope          the code declares variables where they are first
#                         needed, not at the innermost block.
#  shadowVariable         false positive on config_free's array of pointers
#                         (the compiler's -Wshadow is on and clean).
#  funcArgNamesDifferent  headers name the out-parameter by what it holds.
#  missingIncludeSystem   system headers are not analysed.
cppcheck_supp=(unreadVariable variableScope shadowVariable funcArgNamesDifferent
	missingIncludeSystem)
if ! cppcheck --std=c11 --enable=warning,style,performance,portability --inconclusive \
	--error-exitcode=1 --quiet -j "$(nproc)" -D_GNU_SOURCE -DVAULTEXEC_VERSION='"lint"' \
	-I src -I tests/unit -I tests/fuzz "${cppcheck_supp[@]/#/--suppress=}" \
	"${files[@]}"; then
	status=1
else
	echo "  clean"
fi

exit $status
