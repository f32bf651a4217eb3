"""The unit tier stays a unit tier: it runs with no app, no server and no database.

A test that needs any of those belongs in ``tests/integration/``, whose conftest starts them. This
runs ``tests/unit/`` as ``just test-unit`` does, in a fresh interpreter, and looks at what it
imported; the database and Redis it is given refuse every connection. It sits in neither tier, so
it runs with the whole suite and keeps ``just test-unit`` at one pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "tests" / "unit"

# Run in the child: the unit tier, then the modules it left imported, as JSON on the last line.
RUN_THE_TIER = """
import json, sys
import pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[1]])
print(json.dumps({"exit": int(code), "modules": sorted(sys.modules)}))
"""

# Nothing listens on the discard port: a unit test that connects fails.
REFUSED = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/nowhere",
    "REDIS_URL": "redis://127.0.0.1:9/0",
}


# The child is given refused addresses whatever the topology: one pass (the embedded one) is enough.
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="topology-independent: runs on the embedded pass",
)
def test_the_unit_tier_imports_neither_the_app_nor_the_server_harness() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUN_THE_TIER, str(UNIT)],
        cwd=ROOT,
        env={**os.environ, **REFUSED},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["exit"] == 0, result.stdout + result.stderr
    modules = set(report["modules"])
    assert "tests.unit.test_money" in modules  # the tier did run here
    assert "madeinpk.app" not in modules
    assert not {m for m in modules if m.startswith("tests.integration")}
    assert "uvicorn.server" not in modules
