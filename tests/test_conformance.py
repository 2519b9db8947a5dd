"""CPython's own test.test_asyncio as the oracle: what passes on stock asyncio
must pass on fastloop, unless tests/conformance_accepted.toml or
tests/conformance_not_yet.toml explains why not.

Slow (a minute or so per build) and opt-in: ``pytest -m conformance``.
tools/conformance.py does the work; docs/conformance.md explains its output.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

import fastloop

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "tools", "conformance.py")


def _tool_module():
    spec = importlib.util.spec_from_file_location("fastloop_conformance_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _describe(difference):
    return (f"{difference['id']} [{difference['outcome']}, ran on {difference['loop']}]: "
            f"{difference['message']}")


@pytest.mark.conformance
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("build", ["compiled", "pure"])
def test_asyncio_suite_passes_on_fastloop(build, tmp_path):
    if build == "compiled" and not fastloop.COMPILED:
        if os.environ.get("FASTLOOP_REQUIRE_COMPILED", "") not in ("", "0"):
            pytest.fail("FASTLOOP_REQUIRE_COMPILED=1, but fastloop is not compiled "
                        "(tools/build-inplace builds it)", pytrace=False)
        pytest.skip("fastloop is not compiled (tools/build-inplace builds it)")
    command = [sys.executable, TOOL, *_tool_module().DEFAULT_MODULES,
               "--json", "--out-dir", str(tmp_path)]
    if build == "pure":
        command.append("--pure")
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1700)
    assert completed.stdout, f"tools/conformance.py printed nothing:\n{completed.stderr}"
    result = json.loads(completed.stdout)

    problems = []
    for broken in result["broken_runs"]:
        report = next(r for r in result["modules"] if r["module"] == broken)
        problems.append(f"{broken}: the run went wrong: install={report['install']}, "
                        f"incidents={report['incidents']}")
    for report in result["modules"]:
        problems.extend(_describe(d) for d in report["unexplained"])
    if problems:
        pytest.fail(
            f"{len(problems)} test(s) of test.test_asyncio pass on stock asyncio but not on "
            f"fastloop ({build}); fix them, or explain them in tests/conformance_*.toml:\n  "
            + "\n  ".join(problems), pytrace=False)
