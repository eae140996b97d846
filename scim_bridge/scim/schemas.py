"""SCIM schema definitions (RFC 7643 §4, §7, §8.7) and attribute-path resolution.

The definitions are the single source for what the bridge accepts and returns: input normalisation,
filters, PATCH, projection and the ``/Schemas`` documents all read them. Attribute names are matched
case-insensitively (RFC 7643 §2.1) and always come back in their canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# The bridge's own extensions: each target's provisioning state (docs/provisioning-status.md).
PROVISIONING_USER = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:User"
PROVISIONING_GROUP = "urn:scim-bridge:params:scim:schemas:extension:provisioning:2.0:Group"
# The states the store tells apart, per target (store/provisioning.py computes them).
PROVISIONING_STATES = ("linked", "pending", "parked", "skipped", "planned", "unlinked")

# SCIM 1.1 URNs that OneLogin's stock templates still send to 2.0 connectors (docs/identity-providers.md §1.3).
LEGACY_URNS = {
    "urn:scim:schemas:core:1.0": CORE_USER,
    "urn:scim:schemas:extension:enterprise:1.0": ENTERPRISE_USER,
}


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = "string"
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    description: str = ""
    sub_attributes: tuple[Attribute, ...] = ()
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()

    def sub(self, name: str) -> Attribute | None:
        lowered = name.lower()
        return next((a for a in self.sub_attributes if a.name.lower() == lowered), None)

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    @property
    def read_only(self) -> bool:
        return self.mutability == "readOnly"


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]

    def attribute(self, name: str) -> Attribute | None:
        lowered = name.lower()
        return next((a for a in self.attributes if a.name.lower() == lowered), None)


def _s(name, **kw) -> Attribute:
    return Attribute(name, **kw)


def _multi(name, description, *, types=("work", "home", "other"), value_type="string", extra=()):
    """The recurring shape of RFC 7643 multi-valued attributes: value, display, type, primary."""
    return Attribute(
        name,
        type="complex",
        multi_valued=True,
        description=description,
        sub_attributes=(
            _s("value", type=value_type, description=f"The {name} value."),
            _s("display", description="A human-readable name, primarily used for display purposes."),
            _s("type", description="A label indicating the attribute's function.", canonical_values=types),
            _s("primary", type="boolean", description="Marks the preferred value; at most one is true."),
            *extra,
        ),
    )


_ADDRESS_PARTS = ("formatted", "streetAddress", "locality", "region", "postalCode", "country")

USER_SCHEMA = Schema(
    CORE_USER,
    "User",
    "User Account",
    (
        _s("userName", required=True, uniqueness="server",
           description="Unique identifier for the User; compared case-insensitively."),
        _s("name", type="complex", description="The components of the user's real name.",
           sub_attributes=tuple(_s(n, description=f"The {n} of the user's name.") for n in (
               "formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"))),
        _s("displayName", description="The name of the User, suitable for display to end-users."),
        _s("nickName", description="The casual way to address the user."),
        _s("profileUrl", type="reference", reference_types=("external",), description="Profile URL."),
        _s("title", description="The user's title, such as 'Vice President'."),
        _s("userType", description="The relationship between the organization and the user."),
        _s("preferredLanguage", description="Preferred written or spoken language (RFC 7231 §5.3.5)."),
        _s("locale", description="Default location for localising dates, currency and the like."),
        _s("timezone", description="The user's time zone in the IANA Time Zone database format."),
        _s("active", type="boolean", description="The user's administrative status."),
        _s("password", mutability="writeOnly", returned="never",
           description="Accepted on input and never returned."),
        _multi("emails", "Email addresses for the user."),
        _multi("phoneNumbers", "Phone numbers for the user.", types=("work", "home", "mobile", "fax", "pager",
                                                                     "other")),
        _multi("ims", "Instant messaging addresses for the user.",
               types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi("photos", "URLs of photos of the user.", types=("photo", "thumbnail"), value_type="reference"),
        Attribute("addresses", type="complex", multi_valued=True, description="A physical mailing address.",
                  sub_attributes=(*(_s(n, description=f"The {n} of the address.") for n in _ADDRESS_PARTS),
                                  _s("type", canonical_values=("work", "home", "other"),
                                     description="A label indicating the attribute's function."),
                                  _s("primary", type="boolean", description="The preferred address."))),
        Attribute("groups", type="complex", multi_valued=True, mutability="readOnly",
                  description="Groups the user belongs to, from the groups' members; read-only.",
                  sub_attributes=(
                      _s("value", case_exact=True, mutability="readOnly", description="The id of the group."),
                      _s("$ref", type="reference", mutability="readOnly", reference_types=("Group",),
                         description="The URI of the group."),
                      _s("display", mutability="readOnly", description="The displayName of the group."),
                      _s("type", mutability="readOnly", canonical_values=("direct", "indirect"),
                         description="Direct or indirect membership."))),
        _multi("entitlements", "Entitlements of the user.", types=()),
        _multi("roles", "Roles of the user.", types=()),
        _multi("x509Certificates", "Certificates of the user.", types=(), value_type="binary"),
    ),
)

ENTERPRISE_SCHEMA = Schema(
    ENTERPRISE_USER,
    "EnterpriseUser",
    "Enterprise User",
    (
        _s("employeeNumber", description="Numeric or alphanumeric identifier assigned to a person."),
        _s("costCenter", description="Identifies the name of a cost center."),
        _s("organization", description="Identifies the name of an organization."),
        _s("division", description="Identifies the name of a division."),
        _s("department", description="Identifies the name of a department."),
        _s("manager", type="complex", description="The user's manager.", sub_attributes=(
            _s("value", case_exact=True, description="The id of the SCIM resource representing the manager."),
            _s("$ref", type="reference", reference_types=("User",), description="The URI of the manager."),
            _s("displayName", mutability="readOnly", description="The displayName of the manager."),
        )),
    ),
)

GROUP_SCHEMA = Schema(
    CORE_GROUP,
    "Group",
    "Group",
    (
        _s("displayName", required=True, uniqueness="server",
           description="A human-readable name for the Group; unique, compared case-insensitively."),
        Attribute("members", type="complex", multi_valued=True, description="A list of members of the Group.",
                  sub_attributes=(
                      _s("value", case_exact=True, mutability="immutable", description="The id of the member."),
                      _s("$ref", type="reference", mutability="immutable", reference_types=("User", "Group"),
                         description="The URI of the member."),
                      _s("display", mutability="readOnly", description="The member's userName."),
                      _s("type", mutability="immutable", canonical_values=("User", "Group"),
                         description="The type of the member."))),
    ),
)



def _status(name: str, **kw) -> Attribute:
    # RFC 7643 §7: returned only when asked for with ``attributes``, never taken from a client.
    return Attribute(name, mutability="readOnly", returned="request", **kw)


def _provisioning_schema(urn: str, kind: str, remote: Attribute) -> Schema:
    return Schema(urn, f"{kind}ProvisioningStatus", f"Where the bridge stands with this {kind} on each target", (
        _status("targets", type="complex", multi_valued=True,
                description="One value per configured target, in the configuration's order.",
                sub_attributes=(
                    _status("name", description="The target's name in the bridge's configuration."),
                    _status("state", canonical_values=PROVISIONING_STATES, description=(
                        "linked: delivered, nothing queued; pending: a change is queued or being delivered; "
                        "parked: the product refused it, set aside until retried or changed again; "
                        "skipped: the target's rules leave it out; planned: the target is in dry run; "
                        "unlinked: nothing on the target is linked to it yet.")),
                    remote,
                    _status("reason", description="Why it is skipped, planned or waiting, in the bridge's words."),
                    _status("lastError", description="When parked: what the product answered, in its own words."),
                )),
    ))


PROVISIONING_USER_SCHEMA = _provisioning_schema(PROVISIONING_USER, "User", _status(
    "userName", description="The account's username on the target (applied, else the one reserved for it)."))
PROVISIONING_GROUP_SCHEMA = _provisioning_schema(PROVISIONING_GROUP, "Group", _status(
    "groupName", description="The group's name on the target (applied, else the one reserved for it)."))

# RFC 7643 §3.1: attributes of every resource, outside any schema's attribute list.
COMMON_ATTRIBUTES = (
    _s("id", case_exact=True, mutability="readOnly", returned="always", uniqueness="server",
       description="Unique identifier for the resource, assigned by the service provider."),
    _s("externalId", case_exact=True, description="Identifier of the resource as defined by the client."),
    _s("meta", type="complex", mutability="readOnly", description="Resource metadata.", sub_attributes=(
        _s("resourceType", case_exact=True, mutability="readOnly", description="The resource type."),
        _s("created", type="dateTime", mutability="readOnly", description="When the resource was added."),
        _s("lastModified", type="dateTime", mutability="readOnly", description="When it last changed."),
        _s("location", type="reference", case_exact=True, mutability="readOnly", description="Its URI."),
        _s("version", case_exact=True, mutability="readOnly", description="Its version, as in the ETag."),
    )),
)

SCHEMAS = {s.id: s for s in (USER_SCHEMA, ENTERPRISE_SCHEMA, GROUP_SCHEMA, PROVISIONING_USER_SCHEMA,
                              PROVISIONING_GROUP_SCHEMA)}


@dataclass(frozen=True)
class AttributePath:
    """A resolved attribute reference: ``urn`` is None for core and common attributes."""

    urn: str | None
    attribute: Attribute
    sub_attribute: Attribute | None = None

    @property
    def target(self) -> Attribute:
        return self.sub_attribute or self.attribute

    @property
    def dotted(self) -> str:
        """Canonical spelling, e.g. ``name.givenName`` or ``<enterprise URN>:manager.value``."""
        text = self.attribute.name + (f".{self.sub_attribute.name}" if self.sub_attribute else "")
        return f"{self.urn}:{text}" if self.urn else text


@dataclass(frozen=True)
class ResourceType:
    name: str
    endpoint: str
    schema: Schema
    extensions: tuple[Schema, ...] = field(default=())
    description: str = ""

    @property
    def provisioning(self) -> Schema:
        """The extension carrying the provisioning state on each target (returned only on request)."""
        return next(e for e in self.extensions if e.id in (PROVISIONING_USER, PROVISIONING_GROUP))

    def extension(self, urn: str) -> Schema | None:
        urn = LEGACY_URNS.get(urn.lower(), urn)
        return next((e for e in self.extensions if e.id.lower() == urn.lower()), None)

    def top_level(self, name: str) -> AttributePath | None:
        """A top-level name: core, common, or an extension URN used as a key."""
        found = self.schema.attribute(name)
        if found:
            return AttributePath(None, found)
        lowered = name.lower()
        common = next((a for a in COMMON_ATTRIBUTES if a.name.lower() == lowered), None)
        return AttributePath(None, common) if common else None

    def split_urn(self, path: str) -> tuple[Schema | None, str]:
        """Strip a leading schema URN (2.0 or its SCIM 1.1 spelling); (None, path) when there is none."""
        lowered = path.lower()
        for schema in (self.schema, *self.extensions):
            spellings = (schema.id, *(k for k, v in LEGACY_URNS.items() if v == schema.id))
            for spelled in spellings:
                if lowered.startswith(spelled.lower() + ":"):
                    return schema, path[len(spelled) + 1:]
        return None, path

    def resolve(self, path: str) -> AttributePath | None:
        """Resolve ``attr``, ``attr.sub``, ``urn:attr`` or ``urn:attr.sub``; None when unknown."""
        schema, rest = self.split_urn(path)
        name, _, sub = rest.partition(".")
        if schema is None or schema is self.schema:
            base = self.top_level(name)
        else:
            found = schema.attribute(name)
            base = AttributePath(schema.id, found) if found else None
        if base is None or not sub:
            return base
        sub_attr = base.attribute.sub(sub)
        return AttributePath(base.urn, base.attribute, sub_attr) if sub_attr else None


USER = ResourceType("User", "/Users", USER_SCHEMA, (ENTERPRISE_SCHEMA, PROVISIONING_USER_SCHEMA), "User Account")
GROUP = ResourceType("Group", "/Groups", GROUP_SCHEMA, (PROVISIONING_GROUP_SCHEMA,), "Group")
RESOURCE_TYPES = {"User": USER, "Group": GROUP}
