"""What the rules read of a stored SCIM user besides its name: the display name and the address its
product accounts get. Pure functions of the canonical resource (``scim/resources.py`` describes the
form), so delivery builds a ``UserSnapshot`` without reaching into the SCIM layer.
"""

from __future__ import annotations


def display_name_of(resource: dict) -> str:
    """displayName, else name.formatted, else given and family name, else userName."""
    name = resource.get("name") or {}
    joined = " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p)
    return resource.get("displayName") or name.get("formatted") or joined or resource["userName"]


def email_of(resource: dict) -> str | None:
    """The address to give a product: primary, else work, else the first (RFC 7643 §4.1.2)."""
    emails = [e for e in resource.get("emails") or [] if e.get("value")]
    for choose in (lambda e: e.get("primary") is True, lambda e: e.get("type") == "work", lambda e: True):
        found = next((e["value"] for e in emails if choose(e)), None)
        if found:
            return found
    return None

