"""scim2-tester (PyPI ``scim2-cli``) against the bridge started with the demo command.

The demo command line is the one operators and outside tools use (``python app.py --demo --port
PORT``, token from ``SCIM_BRIDGE_TOKEN``), so it is started exactly that way, as a subprocess, and
stopped with SIGTERM the way a supervisor would. Every check scim2-tester runs must be SUCCESS.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.servers import running_demo

# One line per check: "<STATUS> <title>", the reason indented below it (scim2_cli/test.py).
RESULT_LINE = re.compile(r"^([A-Z]+) (.+)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _scim2_executable() -> str:
    found = shutil.which("scim2", path=str(Path(sys.executable).parent)) or shutil.which("scim2")
    if found is None:
        pytest.skip("the scim2 command (PyPI scim2-cli, listed in requirements-dev.txt) is not installed")
    return found


@pytest.fixture
def demo_bridge(tmp_path):
    """The demo started with its documented command line; yields (SCIM base URL, token)."""
    with running_demo(tmp_path, secrets.token_urlsafe(24)) as demo:
        yield demo.url, demo.token


# scim2-tester PATCHes every extension as a whole ("add" and "replace" with the extension's URN as
# path), with a value generated from the extension's writable attributes, and expects that value
# back. The bridge's provisioning extension (docs/provisioning-status.md) has none: the generated
# value is an empty object, which is unassigned (RFC 7643 §2.5) and ignored as read-only input, and
# the extension is returned only when asked for (RFC 7643 §7), so the tester reads back nothing.
# Those two checks per resource type, failing for that reason and that URN only, are expected.
PROVISIONING = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:"
EMPTY_EXTENSION_CHECKS = ("check_add_attribute", "check_replace_attribute")


def empty_provisioning_extension_patch(status: str, title: str, reasons: list[str]) -> bool:
    text = "\n".join(reasons)
    return (status, title) in {("ERROR", t) for t in EMPTY_EXTENSION_CHECKS} and bool(reasons) \
        and re.search(rf"'{re.escape(PROVISIONING)}(User|Group)'", reasons[0]) is not None \
        and re.search(r"Patched value: schemas=\['[^']+'\] targets=None", text) is not None \
        and "Returned value: None" in reasons


def parse_results(output: str) -> list[tuple[str, str, list[str]]]:
    """(status, check title, reason lines) for each check in the CLI's output.

    A reason is printed indented below its check, and its further lines (the patched and returned
    values) unindented, so every line up to the next check belongs to the last one.
    """
    results: list[tuple[str, str, list[str]]] = []
    for line in ANSI.sub("", output).splitlines():
        match = RESULT_LINE.match(line)
        if match:
            results.append((match.group(1), match.group(2), []))
        elif results and line.strip():
            results[-1][2].append(line.strip())
    return results


def test_every_scim2_tester_check_succeeds_against_the_demo(demo_bridge):
    scim2 = _scim2_executable()
    url, token = demo_bridge
    # The token goes through the environment, not the command line other users can read.
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}"}
    run = subprocess.run([scim2, "--url", url, "test"], env=env, capture_output=True, text=True, timeout=300)

    results = parse_results(run.stdout)
    expected = [(title, reasons[0]) for status, title, reasons in results
                if empty_provisioning_extension_patch(status, title, reasons)]
    failing = [f"{status} {title}" + "".join(f"\n    {r}" for r in reasons)
               for status, title, reasons in results
               if status != "SUCCESS" and not empty_provisioning_extension_patch(status, title, reasons)]
    assert results, f"scim2 printed no check results (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    assert not failing, f"{len(failing)} of {len(results)} scim2-tester checks did not succeed:\n" + "\n".join(failing)
    assert sorted(t for t, _ in expected) == sorted(EMPTY_EXTENSION_CHECKS * 2), expected  # once per resource type
    assert run.returncode == (1 if expected else 0), run.stderr
    # The CRUD checks ran once per resource type the bridge advertises (Users and Groups).
    types = requests.get(f"{url}/ResourceTypes", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    for check in ("object_creation", "object_query", "object_replacement", "object_deletion"):
        assert sum(title == check for _status, title, _reasons in results) == types["totalResults"] == 2, check
