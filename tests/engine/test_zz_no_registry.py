"""Last in the engine suite: no build or run asked a registry.

The private dockerd sends every registry request through the registry guard
(tests/engine/registry-guard.py, its HTTP_PROXY and HTTPS_PROXY), which
refuses it and logs its request line in build/docker/registry-attempts.log.
First a canary proves the guard is in the path, for a pull and for a
BuildKit `FROM` (an image name on a host that cannot exist); then every
other line of the log fails the suite: some test's build or run tried to
fetch an image instead of using the local ones."""
from __future__ import annotations

import pytest

import enginelib as E

CANARY = "vaultexec-registry-canary.invalid"
LOG = E.ENGINE_DIR / "registry-attempts.log"


def attempts() -> list[str]:
    assert LOG.is_file(), f"{LOG} is missing: the engine was not started by tests/engine/dockerd.sh"
    return LOG.read_text().splitlines()


@pytest.mark.parametrize("how", ["pull", "build"])
def test_the_guard_sees_a_registry_request(docker, tmp_path, how):
    before = len(attempts())
    image = f"{CANARY}/probe-{how}:1"
    if how == "pull":
        r = docker("pull", image, check=False, timeout=120)
    else:
        (tmp_path / "Dockerfile").write_text(f"FROM {image}\n")
        r = docker("build", "--network", "host", "--progress", "plain", str(tmp_path), check=False, timeout=120)
    assert r.returncode != 0, f"docker {how} of {image} succeeded?"
    new = attempts()[before:]
    assert any(CANARY in line for line in new), \
        f"docker {how} of {image} did not go through the registry guard: {new}\n{r.stderr[-1500:]}"


def test_no_build_or_run_asked_a_registry():
    others = [line for line in attempts() if CANARY not in line]
    assert not others, "registry requests (local images only, please):\n" + "\n".join(others[:20])
