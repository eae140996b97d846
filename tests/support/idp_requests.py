"""What identity providers send and what they expect back, as the tests spell it.

The URNs of RFC 7643 / RFC 7644 are written out here rather than imported from the bridge, so a
wrong URN in the bridge fails the tests instead of agreeing with them. The request bodies are those
of OneLogin, Okta and Entra ID (docs/identity-providers.md §1-§3); the compliance tests check what the bridge
stores of them, the end-to-end tests what reaches the Atlassian products.
"""

from __future__ import annotations

from tests.support.credentials import OKTA_PASSWORD

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# -- OneLogin (docs/identity-providers.md §1.3): what the SCIM JSON Template renders ---------------

SCIM11_CORE = "urn:scim:schemas:core:1.0"
SCIM11_ENTERPRISE = "urn:scim:schemas:extension:enterprise:1.0"


def core_template(user_name: str, first: str, last: str) -> dict:
    """The stock "OneLogin Core User Schema" template, rendered."""
    return {
        "schemas": [SCIM11_CORE],
        "userName": user_name,
        "name": {"givenName": first, "familyName": last, "formatted": f"{first} {last}"},
    }


def enterprise_v1_template(user_name: str, first: str, last: str, *, title: str, department: str,
                           manager_id: str) -> dict:
    """The stock SCIM 1.1 "Enterprise User Schema" template, rendered: ``emails`` is one object."""
    return {
        "schemas": [SCIM11_CORE, SCIM11_ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": first, "familyName": last, "formatted": f"{first} {last}"},
        "emails": {"value": user_name, "type": "work", "primary": True},
        "title": title,
        SCIM11_ENTERPRISE: {"department": department, "manager": {"managerId": manager_id}},
    }


def enterprise_v2_template(user_name: str, first: str, last: str, *, active: str, title: str,
                           department: str, manager_id: str, organization: str = "") -> dict:
    """A 2.0 enterprise template as vendors publish them: string ``active``, ``id: null``, ``meta``,
    ``manager.managerId`` inside the 2.0 extension; empty placeholders render as ""."""
    return {
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "id": None,
        "meta": {"resourceType": "User"},
        "userName": user_name,
        "active": active,
        "displayName": f"{first} {last}",
        "title": title,
        "name": {"givenName": first, "familyName": last},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        ENTERPRISE_USER: {"department": department, "organization": organization,
                          "manager": {"managerId": manager_id}},
    }


# -- Okta (docs/identity-providers.md §2) ----------------------------------------------------------

# Okta URL-encodes its filters; startIndex and count as its import and assignment loops send them.
OKTA_USER_LOOKUP = "/Users?filter=userName%20eq%20%22{}%22&startIndex=1&count=100"
OKTA_GROUP_LOOKUP = "/Groups?filter=displayName%20eq%20%22{}%22&startIndex=1&count=100"


def okta_user(login: str, given: str, family: str, okta_id: str) -> dict:
    """An Okta ``POST /Users`` body: core schema only, read-only ``groups: []``, a pushed password."""
    return {
        "schemas": [CORE_USER],
        "userName": login,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": login, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": okta_id,
        "groups": [],
        "password": OKTA_PASSWORD,
        "active": True,
    }


# -- Entra ID (docs/identity-providers.md §3) ------------------------------------------------------

ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def entra_user(user_name: str, external_id: str, given: str, family: str, email: str, **nulls) -> dict:
    """Entra's ``POST /Users``: core and enterprise URNs, ``meta``, empty ``roles``, explicit nulls."""
    return {
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"{given} {family}", "familyName": family, "givenName": given},
        "roles": [],
        ENTERPRISE_USER: {"employeeNumber": "4711", "department": "Sales"},
        **nulls,
    }
