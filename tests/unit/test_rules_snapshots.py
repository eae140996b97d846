"""The display name and address a product account gets from a stored SCIM user."""

import pytest

from scim_bridge.rules.snapshots import display_name_of, email_of


@pytest.mark.parametrize(("resource", "display", "email"), [
    ({"userName": "u", "displayName": "Ann Lee", "name": {"formatted": "Dr Ann Lee"}}, "Ann Lee", None),
    ({"userName": "u", "name": {"formatted": "Dr Ann Lee", "givenName": "Ann"}}, "Dr Ann Lee", None),
    ({"userName": "u", "name": {"givenName": "Ann", "familyName": "Lee"}}, "Ann Lee", None),
    ({"userName": "u", "name": {"familyName": "Lee"}}, "Lee", None),
    ({"userName": "u", "emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "work"},
                                  {"value": "p@x", "primary": True}]}, "u", "p@x"),
    ({"userName": "u", "emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "work"}]}, "u", "w@x"),
    ({"userName": "u", "emails": [{"type": "work"}, {"value": "h@x", "type": "home"}]}, "u", "h@x"),
])
def test_the_name_and_address_a_product_account_gets(resource, display, email):
    assert (display_name_of(resource), email_of(resource)) == (display, email)
