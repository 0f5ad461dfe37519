#!/usr/bin/env bash
# The one command that runs every test, on Debian 12 as root:
#   1. installs what is missing (tests/install-deps.sh, tests/e2e/install.sh,
#      tests/arm64/install.sh, tests/engine/install.sh; VAULTEXEC_NO_INSTALL=1
#      skips this);
#   2. builds the dynamic binary (for the tests) and the static musl
#      release binary, with a size report;
#   3. unit tests (meson test), then the integration suite (real OpenBao,
#      the fake Vault for faults, the static binary in a bare root
#      filesystem) and the end-to-end suite (real databases and exporters)
#      in one pytest run; the start-up storm (200 processes);
#   4. the arm64 build, cross-compiled, tested under qemu-aarch64;
#   5. the whole suite again under ASan+UBSan, and valgrind on exec paths;
#   6. the Dockerfiles linted and checked, then built and run by a real Docker
#      engine that may ask no registry (tests/engine/run.sh: Dockerfile.scratch,
#      a distroless exporter extended by the README's two lines,
#      examples/distroless-mongodb on a local Percona image against FerretDB,
#      Dockerfile.alpine on a local Alpine stand-in, examples/docker-compose.yml
#      under Compose with all seven targets); vaultexec in the pods of a
#      one-node Kubernetes cluster built from the Go module proxy
#      (tests/k8s/run.sh; the build starts in the background after step 1);
#      clang-tidy
#      and cppcheck; the fuzzers, 60 s each (FUZZ_SECONDS);
#   7. the footprint benchmark (prints figures, asserts nothing);
#   8. one closing line adding up every test: "N passed, N failed, N skipped".
# A skipped required test is a failure.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
junit=$root/build/junit
# Each step's header says how long the previous one took, and the total.
step_name="" step_t0=$SECONDS
step_done() {
	[[ -n $step_name ]] && printf '== %s: %d min %02d s (total %d min %02d s)\n' "$step_name" \
		$(((SECONDS - step_t0) / 60)) $(((SECONDS - step_t0) % 60)) $((SECONDS / 60)) $((SECONDS % 60))
	return 0
}
step() {
	step_done
	step_name=$* step_t0=$SECONDS
	printf '\n== %s\n' "$*"
}

if [[ "${VAULTEXEC_NO_INSTALL:-}" != 1 ]]; then
	step "install"
	bash tests/install-deps.sh
	bash tests/e2e/install.sh
	bash tests/arm64/install.sh
	bash tests/engine/install.sh
	bash tests/k8s/install.sh
fi

# The Kubernetes suite's programs (kube-apiserver, kubelet, kubectl, etcd)
# take about 20 min to build on a fresh 2-core machine (then cached by
# their pinned inputs): built in the background at the lowest priority
# while the steps below run; tests/k8s/run.sh waits for it.
# In its own process group, which is ended if this script ends first (a
# failed step): no go build outlives the test command.
mkdir -p build
setsid nice -n 19 bash tests/k8s/build.sh >build/k8s-build.log 2>&1 &
export K8S_BUILD_PID=$!
trap 'step_done; kill -- -"$K8S_BUILD_PID" 2>/dev/null || true' EXIT

step "build (dynamic, for the tests)"
[[ -f build/build.ninja ]] || meson setup build
ninja -C build
rm -rf "$junit" && mkdir -p "$junit"

step "build (static musl x86_64, the release binary)"
# The same script the Dockerfiles run (--test: its unit and smoke tests too).
tests/docker/build-static.sh --test --log build-static.log amd64
file build-static/src/vaultexec
python3 tests/static/size-report.py build-static --top 5

step "unit tests"
meson test -C build --print-errorlogs

step "integration and end-to-end tests"
export VAULTEXEC_BIN="$root/build/src/vaultexec"
export VAULTEXEC_STATIC_BIN="$root/build-static/src/vaultexec"
python3 -m pytest tests/integration tests/e2e -q -rfEs -p no:cacheprovider \
	--junitxml="$junit/integration.xml" "$@"

step "start-up storm: 200 processes at once, with OpenBao up and coming up late; 200 supervisors through an outage"
python3 -m pytest tests/storm -q -s -rfEs -p no:cacheprovider --junitxml="$junit/storm.xml"

step "arm64: cross build, unit and integration tests under qemu-aarch64"
VAULTEXEC_NO_INSTALL=1 VAULTEXEC_JUNIT_DIR="$junit" bash tests/arm64/run.sh "$@"
python3 tests/static/size-report.py build-static build-static-arm64 --top 0

step "Dockerfiles: hadolint, shellcheck, and the checks no linter does"
bash tests/docker/check.sh

step "Docker engine: the images built and run, the Compose example up (tests/engine/run.sh)"
VAULTEXEC_NO_INSTALL=1 VAULTEXEC_JUNIT_DIR="$junit" bash tests/engine/run.sh

step "Kubernetes: a one-node cluster, vaultexec in its pods (tests/k8s/run.sh)"
VAULTEXEC_NO_INSTALL=1 VAULTEXEC_JUNIT_DIR="$junit" bash tests/k8s/run.sh

step "sanitizers (ASan+UBSan whole suite, valgrind on exec paths)"
bash tests/sanitize.sh

step "static analysis (clang-tidy, cppcheck)"
bash tests/lint.sh

step "fuzzing (${FUZZ_SECONDS:-60} s per harness)"
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-60}"

step "benchmark (figures only)"
python3 tests/bench/bench.py --runs 30

step "summary"
python3 tests/summary.py "$junit"/*.xml build/meson-logs/testlog.json \
	build-static/meson-logs/testlog.json build-static-arm64/meson-logs/testlog.json
