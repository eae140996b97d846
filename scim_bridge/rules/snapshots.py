"""What the rules read of a stored SCIM user besides its name: the display name, the address its
product accounts get, and its manager. Pure functions of the canonical resource
(``scim/resources.py`` describes the form), so delivery builds a ``UserSnapshot`` without reaching
into the SCIM layer.
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


# The enterprise User extension's URN (RFC 7643 §4.3), as the canonical resource keys it.
_ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def manager_id_of(resource: dict) -> str | None:
    """The enterprise extension's ``manager.value``: the manager's SCIM id (RFC 7643 §4.3)."""
    manager = (resource.get(_ENTERPRISE_USER) or {}).get("manager") or {}
    value = manager.get("value") if isinstance(manager, dict) else None
    return value if isinstance(value, str) and value else None
