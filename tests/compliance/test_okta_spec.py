"""Okta's "SCIM 2.0 SPEC Test" replayed against a live bridge (docs/identity-providers.md §2.5).

The Runscope export is read from the shared reference directory at test time and run step by step by
``tests.support.runscope``: every assertion of every request step must hold, on SQLite and on
PostgreSQL. Okta asks for at least one user to exist before the suite runs; a group is created too,
so that step 10's script sees a non-empty ``GET /Groups``.
"""

from __future__ import annotations

import json
import random
import re
import string

import pytest
import requests

from tests.support import reference_dir
from tests.support.bridge import TOKEN, serve
from tests.support.runscope import RunscopeReplay

SUITE_DIR = "idp-test-suites"
SUITE_FILE = "Okta-SCIM-20-SPEC-Test.json"
INITIAL_SCRIPT = "Initial_Script_Spec.txt"
GROUPS_STEP = "Optional Test: Verify Groups endpoint"


def _reference(name: str):
    path = reference_dir() / SUITE_DIR / name
    if not path.is_file():
        pytest.skip(f"Okta's SPEC test file {name} is not at {path} (set SCIM_BRIDGE_REFERENCE_DIR to the "
                    "shared reference directory)")
    return path


def initial_variables(rng: random.Random) -> dict[str, str]:
    """What Okta's initial script sets, made the way it makes them.

    A given name "Runscope" plus three digits; a family name of one capital letter, eight lower-case
    letters and three digits; an address ``<given><family>@atko.com`` used as e-mail and userName;
    that address in capitals to probe the case-insensitive lookup; an unknown address and id.
    """
    given = "Runscope" + "".join(rng.choices(string.digits, k=3))
    family = (rng.choice(string.ascii_uppercase) + "".join(rng.choices(string.ascii_lowercase, k=8))
              + "".join(rng.choices(string.digits, k=3)))
    email = f"{given}{family}@atko.com"
    return {
        "randomGivenName": given,
        "randomFamilyName": family,
        "randomEmail": email,
        "randomUsername": email,
        "randomUsernameCaps": email.upper(),
        "InvalidUserEmail": "abcdefgh@atko.com",
        "UserIdThatDoesNotExist": "010101001010101011001010101011",
    }


def groups_are_listed(response: requests.Response) -> list[str]:
    """Step 10's JavaScript, in Python.

    The script parses the body (a parse error fails the step), reads ``totalResults`` and, when it
    is at least 1, asserts that ``Resources`` is an array; with no groups it only notes the fact. Its
    ``assert.ok`` runs only inside the branch where it already holds, so this states the intent
    instead: a JSON object whose ``totalResults`` is 0, or at least 1 with ``Resources`` an array.
    """
    try:
        data = response.json()
    except ValueError:
        return ["the body is not JSON"]
    if not isinstance(data, dict):
        return ["the body is not a JSON object"]
    total, resources = data.get("totalResults"), data.get("Resources")
    if total == 0 or (isinstance(total, int) and total >= 1 and isinstance(resources, list)):
        return []
    return [f"totalResults {total!r} with Resources of type {type(resources).__name__}"]


def test_the_initial_script_sets_the_variables_reproduced_here():
    """The Python reproduction covers every variable the script sets (and the fixed ones agree)."""
    script = _reference(INITIAL_SCRIPT).read_text()
    set_names = set(re.findall(r'variables\.set\("([A-Za-z0-9_]+)"', script))
    reproduced = initial_variables(random.Random(1))
    assert set_names == set(reproduced)
    for name, value in re.findall(r'variables\.set\("([A-Za-z0-9_]+)",\s*"([^"]*)"\)', script):
        assert reproduced[name] == value


def _seed(scim) -> None:
    user = scim.post("/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "existing.user@atko.com",
        "name": {"givenName": "Existing", "familyName": "User"},
        "emails": [{"value": "existing.user@atko.com", "type": "work", "primary": True}],
        "active": True,
    })
    assert user.status == 201, user.body
    group = scim.post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                  "displayName": "Okta SPEC readers", "members": [{"value": user.body["id"]}]})
    assert group.status == 201, group.body


def test_okta_spec_suite_passes_against_a_live_bridge(app, scim):
    suite = json.loads(_reference(SUITE_FILE).read_text())
    _seed(scim)
    variables = initial_variables(random.Random(20240513))
    with serve(app) as base_url, requests.Session() as session:
        replay = RunscopeReplay(
            {"SCIMBaseURL": base_url, "auth": f"Bearer {TOKEN}", **variables},
            scripts={GROUPS_STEP: groups_are_listed},
            session=session,
        )
        report = replay.run(suite["steps"])

    assert not report.failures, "Okta SPEC test assertions that failed:\n" + "\n".join(map(str, report.failures))
    assert report.requests == sum(1 for s in suite["steps"] if s["step_type"] == "request") == 12
    assert report.assertions == sum(len(s.get("assertions", [])) for s in suite["steps"]) + 1  # + the script
    # Beyond the suite's own "200": the upper-case lookup finds the user step 6 created, and the
    # refused duplicate of step 8 left exactly one.
    found = scim.get(f'/Users?filter=userName eq "{variables["randomUsernameCaps"]}"')
    assert found.body["totalResults"] == 1
    assert found.body["Resources"][0]["userName"] == variables["randomUsername"]
