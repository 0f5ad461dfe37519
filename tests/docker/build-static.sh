#!/usr/bin/env bash
# The static release build of vaultexec, as CI and both Dockerfiles run it.
#
#   tests/docker/build-static.sh [--test] [--out DIR] [--builddir DIR] [--log FILE] ARCH
#
# ARCH is Docker's TARGETARCH: amd64 or arm64 (x86_64 and aarch64 are taken
# too).  The commands are the static recipe of subprojects/static/README.md:
#
#   meson setup build-static       --native-file subprojects/musl-x86_64.ini -Dstatic=true
#   meson setup build-static-arm64 --cross-file  subprojects/musl-aarch64.ini -Dstatic=true
#   ninja -C DIR
#   meson test -C DIR --print-errorlogs               (with --test)
#
# The machine file follows from ARCH and the machine this runs on (uname -m):
#
#   ARCH   build machine  machine files
#   amd64  x86_64         --native-file subprojects/musl-x86_64.ini           (CI, Docker on amd64)
#   arm64  x86_64         --cross-file  subprojects/musl-aarch64.ini          (CI, Docker on amd64)
#   arm64  aarch64        --cross-file  subprojects/musl-aarch64.ini
#                         --cross-file  tests/docker/runs-natively.ini       (Docker on arm64: tests run natively)
#   amd64  aarch64        --cross-file  subprojects/musl-x86_64.ini
#                         --cross-file  tests/docker/x86_64-cross.ini        (Docker on arm64)
#
# Only the first two run in CI; the arm64-build-machine rows are for
# `docker buildx build --platform ...` on an arm64 machine (untested here).
#
# Idempotent and quick on a configured build directory: setup is skipped
# (after checking the directory was configured for the same ARCH, machine
# files and -Dstatic=true; anything else is an error, never a silent wipe),
# ninja rebuilds what changed.  A directory left without build.ninja by a
# failed setup is configured again.
#
# --test       run every test of the build directory (the unit and the
#              static suites).  Natively when the build machine runs ARCH
#              programs, else through the cross file's exe_wrapper
#              (qemu-user: qemu-aarch64 / qemu-x86_64).  A test that cannot
#              run, is skipped by meson, or fails makes this script fail:
#              there is no silent skip.
# --out DIR    copy the binary to DIR/vaultexec (mode 0755) and make
#              DIR/vault-env a relative symlink to it (vault-env mode; the
#              images COPY the directory, which keeps the link: no extra bytes).
# --builddir   build directory (default: build-static for amd64,
#              build-static-arm64 for arm64, in the repository).
# Relative paths in --out, --log and --builddir are relative to the
# current directory.
# --log FILE   send the output of setup and ninja to FILE and show its
#              last 50 lines on failure (tests/run-all.sh's behaviour).
#
# Needs: tests/install-deps.sh (+ tests/arm64/install.sh for arm64) in CI,
# tests/docker/install-build-deps.sh ARCH in the Docker builder.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/../.."
root=$PWD
me=tests/docker/build-static.sh

die() {
	echo "$me: $*" >&2
	exit 1
}
usage() {
	sed -n '4p' "$0" | sed 's/^# *//' >&2
	exit 2
}

test=0 out="" builddir="" log=""
while (($#)); do
	case $1 in
	--test) test=1 ;;
	--out) out=${2:?--out needs a directory}; shift ;;
	--out=*) out=${1#*=} ;;
	--builddir) builddir=${2:?--builddir needs a directory}; shift ;;
	--builddir=*) builddir=${1#*=} ;;
	--log) log=${2:?--log needs a file}; shift ;;
	--log=*) log=${1#*=} ;;
	-h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done
(($# == 1)) || usage
arch=$1
[[ -n $arch ]] || die "ARCH is empty (in a Dockerfile: TARGETARCH is set by BuildKit: use docker buildx build, or Docker >= 23)"

case $arch in
amd64 | x86_64) cpu=x86_64 deb=amd64 elf_machine="Advanced Micro Devices X86-64" ;;
arm64 | aarch64) cpu=aarch64 deb=arm64 elf_machine="AArch64" ;;
*) die "unsupported ARCH '$arch' (amd64 or arm64)" ;;
esac
# VAULTEXEC_BUILD_CPU: pretend to be another build machine (to test the
# machine-file rows; the programs must still run here for --test).
build_cpu=${VAULTEXEC_BUILD_CPU:-$(uname -m)}

machine=()
case $cpu/$build_cpu in
x86_64/x86_64) machine=(--native-file subprojects/musl-x86_64.ini) ;;
aarch64/x86_64) machine=(--cross-file subprojects/musl-aarch64.ini) ;;
aarch64/aarch64) machine=(--cross-file subprojects/musl-aarch64.ini --cross-file tests/docker/runs-natively.ini) ;;
x86_64/aarch64) machine=(--cross-file subprojects/musl-x86_64.ini --cross-file tests/docker/x86_64-cross.ini) ;;
*) die "no machine file for $deb on a $build_cpu build machine" ;;
esac
for ((i = 1; i < ${#machine[@]}; i += 2)); do
	[[ -f ${machine[i]} ]] || die "${machine[i]} is missing"
done
cross=0
[[ ${machine[0]} == --cross-file ]] && cross=1

# --out, --log and --builddir are relative to the caller's directory.
abs() { if [[ -z $1 || $1 == /* ]]; then echo "$1"; else echo "$caller/$1"; fi; }
out=$(abs "$out") log=$(abs "$log") builddir=$(abs "$builddir")
[[ $caller != "$root" ]] || { out=${out#"$root"/} log=${log#"$root"/} builddir=${builddir#"$root"/}; }
if [[ -z $builddir ]]; then
	builddir=build-static
	[[ $deb == amd64 ]] || builddir=build-static-$deb
fi

# Output of setup and ninja: the terminal, or --log FILE (created once the
# build directory has been checked; it may lie inside it).
run() {
	if [[ -n $log ]]; then
		"$@" >>"$log" 2>&1 || { tail -n 50 "$log" >&2; die "failed: $* (whole log: $log)"; }
	else
		"$@" || die "failed: $*"
	fi
}

# A configured directory must be the one this would configure.
check_builddir() {
	python3 - "$builddir" "$cpu" "$root" "${machine[@]}" <<'EOF'
import ast, configparser, json, os, sys
bdir, cpu, root, *machine = sys.argv[1:]
info = os.path.join(bdir, "meson-info")
problems = []
opts = {o["name"]: o["value"] for o in json.load(open(os.path.join(info, "intro-buildoptions.json")))}
if opts.get("static") is not True:
    problems.append("it is not configured with -Dstatic=true")
host = json.load(open(os.path.join(info, "intro-machines.json")))["host"]["cpu_family"]
if host != cpu:
    problems.append(f"its host machine is {host}, not {cpu}")
cmd = configparser.ConfigParser(interpolation=None)
cmd.read(os.path.join(bdir, "meson-private", "cmd_line.txt"))
props = cmd["properties"] if cmd.has_section("properties") else {}
def files(key):
    v = props.get(key)
    return [os.path.realpath(p) for p in ast.literal_eval(v)] if v else []
want = {"native_file": [], "cross_file": []}
for flag, path in zip(machine[::2], machine[1::2]):
    want[flag[2:].replace("-", "_")].append(os.path.realpath(os.path.join(root, path)))
for key, paths in want.items():
    if files(key) != paths:
        problems.append(f"its {key.replace('_', ' ')}s are {files(key) or 'none'}, not {paths or 'none'}")
for p in problems:
    print(p)
EOF
}

echo "== vaultexec static build: $deb ($cpu) on $build_cpu, $builddir"
if [[ -f $builddir/build.ninja ]]; then
	problems=$(check_builddir)
	if [[ -n $problems ]]; then
		die "$builddir was configured differently from this build:
$problems
Remove it (rm -rf $builddir) or give another --builddir."
	fi
	echo "   configured already: setup skipped"
	if [[ -n $log ]]; then
		mkdir -p "$(dirname "$log")"
		: >"$log"
	fi
else
	if [[ -e $builddir ]]; then
		# Anything but meson's own files and the log: not ours to remove.
		others=$(find "$builddir" -mindepth 1 -maxdepth 1 ! -name meson-private ! -name meson-logs \
			! -name meson-info ${log:+! -path "$(dirname "$log")/$(basename "$log")"} -print -quit)
		[[ -d $builddir/meson-private || -z $others ]] ||
			die "$builddir exists and is not a meson build directory ($others)"
		echo "   $builddir has no build.ninja (a failed setup): configuring it again"
		rm -rf "$builddir"
	fi
	if [[ -n $log ]]; then
		mkdir -p "$(dirname "$log")"
		: >"$log"
	fi
	run meson setup "$builddir" "${machine[@]}" -Dstatic=true
fi
run ninja -C "$builddir"

bin=$builddir/src/vaultexec
[[ -x $bin ]] || die "$bin was not built"
# The release binary: an ELF for ARCH with no interpreter and no shared
# library (a static-pie keeps a DYNAMIC segment for its self-relocation).
hdr=$(LC_ALL=C readelf -h "$bin")
grep -q "Machine: *$elf_machine\$" <<<"$hdr" ||
	die "$bin is not an $elf_machine executable: $(grep Machine: <<<"$hdr")"
if LC_ALL=C readelf -l "$bin" | grep -qE '^ *INTERP ' || LC_ALL=C readelf -d "$bin" | grep -q '(NEEDED)'; then
	die "$bin is dynamically linked"
fi
echo "   $bin: static $cpu ELF, $(stat -c %s "$bin") bytes, sha256 $(sha256sum "$bin" | cut -c1-64)"

if ((test)); then
	if ((cross)) && [[ $cpu != "$build_cpu" ]]; then
		# meson runs the tests through the cross file's exe_wrapper.
		wrapper=qemu-$cpu
		command -v "$wrapper" >/dev/null ||
			die "--test: the $deb programs need $wrapper on this $build_cpu machine (Debian: apt-get install --no-install-recommends qemu-user)"
		echo "== tests ($deb, under $wrapper)"
	else
		echo "== tests ($deb, native)"
	fi
	tlog=$(mktemp)
	trap 'rm -f "$tlog"' EXIT
	# No --log here: test results belong on the terminal.
	if ! meson test -C "$builddir" --print-errorlogs | tee "$tlog"; then
		die "tests failed (details: $builddir/meson-logs/testlog.txt)"
	fi
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$tlog" | tail -n 1)
	skipped=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$tlog" | tail -n 1)
	[[ ${ok:-0} -gt 0 ]] || die "no test ran in $builddir"
	[[ ${skipped:-0} -eq 0 ]] || die "$skipped test(s) skipped in $builddir: every one must run"
fi

if [[ -n $out ]]; then
	install -D -m 0755 "$bin" "$out/vaultexec"
	ln -sfn vaultexec "$out/vault-env"
	echo "   installed $out/vaultexec and $out/vault-env -> vaultexec"
fi
