"""The integration suite's fixtures and hooks (tests/integration/conftest.py:
bao, bao_tls, vx, the leak check, the no-skip policy) for the arm64 tests.

Loaded under its own module name so that it does not clash with this file
(pytest imports both as "conftest").  tests/arm64/run.sh runs these tests in
a pytest invocation of their own.  Collected together with tests/integration
they work as well, but the hooks then run twice (each copy checks its own
runs) and a second pair of OpenBao servers is started.
"""
import importlib.util
import sys
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))  # vxlib, fakevault

_spec = importlib.util.spec_from_file_location("vaultexec_integration_conftest",
                                               INTEGRATION / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _mod
_spec.loader.exec_module(_mod)

from vaultexec_integration_conftest import *  # noqa: E402,F401,F403  (fixtures and hooks)
