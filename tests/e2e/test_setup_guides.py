"""The SCIM JSON template of docs/setup-onelogin.md, filled in the way OneLogin fills it (each
``{$…}`` placeholder replaced by text, ``active`` as the text "true" or "false"), does what the guide
says: it creates the accounts with the name and e-mail it carries, keeps the enterprise extension in
the bridge, and "Suspend" (the template again with ``active`` "false") deactivates the accounts.
"""

from __future__ import annotations

import json
import re

from tests.e2e.provisioning_support import EMAIL_LOCAL_PART, LICENCE, LICENCE_GROUPS, PRODUCTS
from tests.support import REPO_ROOT
from tests.support.idp_requests import ENTERPRISE_USER

_PLACEHOLDER = re.compile(r"\{\$([a-z_.]+)\}")


def _guide_template() -> str:
    text = (REPO_ROOT / "docs" / "setup-onelogin.md").read_text(encoding="utf-8")
    section = text.split("\n## 3. The SCIM JSON template\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```json\n(.*?)^```", section, re.S | re.M)
    assert len(blocks) == 1, "docs/setup-onelogin.md §3 holds one JSON template"
    return blocks[0]


def _rendered(values: dict[str, str]) -> dict:
    """The template as OneLogin sends it: a placeholder it has no value for becomes empty text."""
    template = _guide_template()
    unknown = set(_PLACEHOLDER.findall(template)) - set(values)
    assert unknown <= {"user.title"}, f"placeholders this test does not fill: {unknown}"
    return json.loads(_PLACEHOLDER.sub(lambda m: json.dumps(values.get(m.group(1), ""))[1:-1], template))


ANN = {"parameters.scimusername": "Ann.Lee@example.com", "user.display_name": "Ann Lee", "user.firstname": "Ann",
       "user.lastname": "Lee", "user.email": "ann.lee@example.com", "user.active": "true",
       "user.department": "R&D", "user.company": "Example \"Corp\""}


def test_the_onelogin_template_of_the_guide_provisions_and_suspends(start):
    bridge = start(rules=EMAIL_LOCAL_PART, targets=LICENCE_GROUPS)
    idp = bridge.idp
    ann = idp.ok(idp.post("/Users", _rendered(ANN)), 201)
    assert ann[ENTERPRISE_USER] == {"department": "R&D", "organization": 'Example "Corp"'}
    assert "title" not in ann  # an empty placeholder is no value
    for product in PRODUCTS:
        account = bridge.state(product)[0]["ann.lee"]
        assert (account.display, account.email, account.active) == ("Ann Lee", "ann.lee@example.com", True)
        assert LICENCE[product] in account.groups, product

    idp.ok(idp.put(f"/Users/{ann['id']}", _rendered({**ANN, "user.active": "false"})), 200)
    assert bridge.outbox() == []
    for product in ("jira", "confluence"):
        assert bridge.state(product)[0]["ann.lee"].active is False, product
    # Bitbucket cannot deactivate: the licence goes (deactivate_with remove_license, the default).
    assert bridge.state("bitbucket")[0]["ann.lee"].licensed is False
