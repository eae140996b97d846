"""The end-of-run log scan (tests/conftest.py) finds each way a credential can leak, and only those."""

import logging

import pytest

from tests.support.credentials import FAKE_ADMIN, OKTA_PASSWORD, TOKEN, leaks
from tests.support.log_capture import RunLog, scan


@pytest.mark.parametrize("line", [
    f'{{"message": "verified {TOKEN}"}}',
    f"creating user with password {OKTA_PASSWORD}",
    '{"headers": {"Authorization": "x"}}',
    "Authorization: Bearer abc",
    "sent Bearer abcdefgh12",
    "Basic YWRtaW46YWRtaW4=",
    f'{{"password": "{FAKE_ADMIN[1]}"}}',
])
def test_a_credential_in_a_line_is_found(line):
    assert leaks(line)


@pytest.mark.parametrize("line", [
    '{"logger": "scim_bridge.access", "message": "GET /scim/v2/Users 401", "actor": null}',
    "jira: user admin added to jira-administrators",
    "token create: okta (shown once)",
    "a bearer token is required",
])
def test_ordinary_lines_are_not_flagged(line):
    assert leaks(line) == []


def test_a_record_is_kept_as_the_bridge_formats_it_and_scanned():
    # Handed to a handler of its own, not logged: the run's own scan must not see the planted token.
    run_log = RunLog()
    run_log.handle(logging.makeLogRecord({"name": "scim_bridge.x", "levelno": logging.WARNING, "levelname": "WARNING",
                                          "msg": "leaked %s", "args": (TOKEN,), "request_id": "r-1"}))
    assert '"request_id": "r-1"' in run_log.lines[0]
    assert [found for _where, _line, found in scan(run_log).findings] == [[TOKEN]]
