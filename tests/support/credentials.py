"""Every bearer token and password the tests hand to the bridge or its targets, in one place, and the
check that none of them shows in a log line (tests/conftest.py scans the whole run's logs with it).

Distinctive values are looked for as they are. Short or common ones (the fakes' administrator
password is "admin", which is also a user name and part of group names) are looked for only in the
forms a credential would leak in: an ``Authorization`` header, ``Basic``/``Bearer`` credentials, or a
``password`` key with that value.
"""

from __future__ import annotations

import base64
import re

# The bridge's bearer token in tests (tests/support/bridge.py) and the demo's token in its tests.
TOKEN = "test-token-0123456789abcdef"
# The Atlassian fakes' administrator account (atlassian_clients/fakes, the default of every target).
FAKE_ADMIN = ("admin", "admin")
# The password Okta sends with a new user (tests/support/idp_requests.py), and those other tests send.
OKTA_PASSWORD = "t0p-Secret-9x"
IDP_PASSWORDS = (OKTA_PASSWORD, "Secr3t!pass", "s3cret!", "t1meMa$heen")
# Target credentials and tokens used by client and configuration tests.
CLIENT_SECRETS = ("real-secret-1", "hunter22", "pw-secret", "tok-secret", "carol-secret", "bb-admin-pat")
# Tokens the hostile-input suite presents (tests/e2e/test_hostile_input.py).
HOSTILE_TOKEN = "hostile-token-5f3e9a1c77d2"
# Console administrators' passwords (tests/e2e/test_console*.py), and one typed wrong.
CONSOLE_PASSWORD = "console-Pass-4d1e9"
CONSOLE_WRONG_PASSWORD = "not-the-Pass-77c2"

DISTINCTIVE = (TOKEN, HOSTILE_TOKEN, *IDP_PASSWORDS, *CLIENT_SECRETS, CONSOLE_PASSWORD, CONSOLE_WRONG_PASSWORD)
SHORT_PASSWORDS = (FAKE_ADMIN[1], "pw", "wrong")

_CREDENTIAL_FORMS = [
    re.compile(r"authorization\W{0,3}\s*[:=]", re.I),  # a header, as "Authorization: ..." or a dict key
    re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9+/=._~-]{6,}", re.I),
    *(re.compile(rf"""password\W{{0,3}}\s*[:=]\s*\W{{0,2}}{re.escape(value)}\b""", re.I) for value in SHORT_PASSWORDS),
]
_ENCODED = tuple(base64.b64encode(f"{FAKE_ADMIN[0]}:{p}".encode()).decode() for p in SHORT_PASSWORDS)


def leaks(line: str) -> list[str]:
    """What in ``line`` is a credential: the values found, or the form that gives one away."""
    found = [value for value in (*DISTINCTIVE, *_ENCODED) if value in line]
    found += [pattern.pattern for pattern in _CREDENTIAL_FORMS if pattern.search(line)]
    return found
