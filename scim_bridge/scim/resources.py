"""Incoming SCIM resources → the canonical form the store keeps, and the canonical form → responses.

Canonical form: a dict of core attributes under their canonical names and extension attributes under
the extension's URN, holding only assigned values (RFC 7643 §2.5: null, "" and [] are unassigned).
``id``, ``meta``, ``schemas``, a user's ``groups``, a group's ``members`` and ``password`` are kept out
of it: the store holds those elsewhere or not at all.

Identity providers send shapes the RFC does not (docs/identity-providers.md §4); they are absorbed here, once,
so that the store, PATCH and the rules only ever see the canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass

from scim_bridge.errors import InvalidSyntax, InvalidValue
from scim_bridge.scim.limits import check_string
from scim_bridge.scim.schemas import Attribute, ResourceType

# Read-only or server-managed input, ignored rather than refused (RFC 7643 §2.2; Okta POSTs
# ``groups: []``, OneLogin ``id: null``, Entra ``meta``).
IGNORED_ON_INPUT = {"id", "meta", "schemas", "groups"}


@dataclass
class Incoming:
    attributes: dict
    password: str | None = None
    members: list[dict] | None = None  # groups only; None when the body did not carry ``members``


def parse_resource(rtype: ResourceType, body: object) -> Incoming:
    """Validate and canonicalise a POST or PUT body."""
    if not isinstance(body, dict):
        raise InvalidSyntax(f"The request body must be a JSON object describing a {rtype.name}.")
    incoming = Incoming(attributes={})
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        extension = rtype.extension(key)
        if extension is not None:
            coerced = coerce_extension(rtype, key, value)
            if coerced:
                incoming.attributes[extension.id] = coerced
            continue
        path = rtype.top_level(key)
        if path is None or path.attribute.name in IGNORED_ON_INPUT:
            continue  # unknown attributes are ignored, as Microsoft's test suite expects
        attr = path.attribute
        if attr.name == "password":
            incoming.password = _password(value)
        elif attr.name == "members":
            incoming.members = coerce_members(value)
        elif attr.name != "meta":
            coerced = coerce_value(attr, value, attr.name)
            if coerced is not None:
                incoming.attributes[attr.name] = coerced
    check_required(rtype, incoming.attributes)
    return incoming


def coerce_extension(rtype: ResourceType, key: str, value: object) -> dict | None:
    extension = rtype.extension(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValue(f'"{key}" must be an object holding the extension\'s attributes.')
    out = {}
    for name, sub_value in value.items():
        attr = extension.attribute(name) if isinstance(name, str) else None
        if attr is None or attr.read_only:
            continue  # RFC 7643 §2.2: read-only input (the provisioning state) is ignored
        coerced = coerce_value(attr, sub_value, f"{extension.id}:{attr.name}")
        if coerced is not None:
            out[attr.name] = coerced
    return out or None


def check_required(rtype: ResourceType, attributes: dict) -> None:
    for attr in rtype.schema.attributes:
        if attr.required and attributes.get(attr.name) in (None, ""):
            raise InvalidValue(f'"{attr.name}" is required for a {rtype.name}: send a non-empty string.')


def coerce_value(attr: Attribute, value: object, where: str):
    """Coerce one attribute's value to its schema type; None means unassigned."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if attr.is_complex:
        return _complex_multi(attr, value, where) if attr.multi_valued else _complex(attr, value, where)
    if attr.multi_valued:
        items = value if isinstance(value, list) else [value]
        out = [v for v in (_simple(attr, item, where) for item in items) if v is not None]
        return out or None
    return _simple(attr, value, where)


def _simple(attr: Attribute, value: object, where: str):
    if value is None or value == "":
        return None
    if attr.type == "boolean":
        return to_bool(value, where)
    if isinstance(value, bool | dict | list):
        raise InvalidValue(f'"{where}" must be a {_type_word(attr)}, not {_json_kind(value)}.')
    if attr.type in ("integer", "decimal"):
        if isinstance(value, int | float):
            return value
        raise InvalidValue(f'"{where}" must be a number, not {_json_kind(value)}.')
    # Numbers for string attributes (an employeeNumber sent as 1234) are kept as text.
    text = value if isinstance(value, str) else str(value)
    # Binary values (x509Certificates) are bounded by the body size only: no column holds them.
    return text if attr.type == "binary" else check_string(text, where)


def to_bool(value: object, where: str) -> bool:
    """Booleans, and the strings Entra ("False") and OneLogin templates ("true") send for them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValue(f'"{where}" must be a boolean (true or false), not {_json_kind(value)}.')


def _complex(attr: Attribute, value: object, where: str) -> dict | None:
    # Entra sends the single-valued manager as a one-element array (docs/identity-providers.md §4.8).
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and attr.sub("value") is not None:
        value = {"value": value}
    if not isinstance(value, dict):
        raise InvalidValue(f'"{where}" must be an object with sub-attributes, not {_json_kind(value)}.')
    out = {}
    for name, sub_value in value.items():
        if not isinstance(name, str):
            continue
        # OneLogin's SCIM 1.1 enterprise template names the manager's id "managerId".
        if attr.name == "manager" and name.lower() == "managerid":
            name = "value"
        sub = attr.sub(name)
        if sub is None:
            continue
        coerced = _simple(sub, sub_value, f"{where}.{sub.name}")
        if coerced is not None:
            out[sub.name] = coerced
    return out or None


def _complex_multi(attr: Attribute, value: object, where: str) -> list | None:
    # OneLogin's v1 enterprise template sends "emails" as one object (docs/identity-providers.md §1.3).
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        coerced = _complex(attr, item, where)
        if coerced is not None:
            out.append(coerced)
    primaries = [i for i, item in enumerate(out) if item.get("primary") is True]
    # RFC 7643 §2.4: at most one primary; keep the first rather than refuse the whole user.
    for i in primaries[1:]:
        out[i]["primary"] = False
    return out or None


def coerce_members(value: object) -> list[dict]:
    """Group members as ``[{"value": id, ...}]``; bare strings are taken as ids (Microsoft's tests)."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str) and item:
            out.append({"value": check_string(item, "members.value")})
        elif isinstance(item, dict):
            member = {k: v for k, v in item.items() if isinstance(k, str)}
            lowered = {k.lower(): v for k, v in member.items()}
            ident = lowered.get("value")
            if not isinstance(ident, str) or not ident:
                raise InvalidValue('Each member needs a "value" holding the id of a User or Group.')
            entry = {"value": check_string(ident, "members.value")}
            if isinstance(lowered.get("type"), str):
                entry["type"] = check_string(lowered["type"], "members.type")
            out.append(entry)
        elif item is not None:
            raise InvalidValue(f"A member must be an object with a \"value\", not {_json_kind(item)}.")
    return out


def _password(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValue('"password" must be a string.')
    return value


def _type_word(attr: Attribute) -> str:
    return {"dateTime": "date-time string", "reference": "URI string", "binary": "base64 string"}.get(
        attr.type, attr.type
    )


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f'the string "{value[:40]}"'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def schemas_of(rtype: ResourceType, attributes: dict) -> list[str]:
    """The ``schemas`` of a resource: its core schema and each extension it has values in."""
    return [rtype.schema.id, *(e.id for e in rtype.extensions if attributes.get(e.id))]



@dataclass(frozen=True)
class Meta:
    created: str  # ISO 8601, UTC
    last_modified: str
    version: int
    location: str


def etag(version: int) -> str:
    """Weak entity tag for a resource version (RFC 7644 §3.14; RFC 7232 §2.3)."""
    return f'W/"{version}"'


def render(
    rtype: ResourceType,
    resource_id: str,
    attributes: dict,
    meta: Meta,
    *,
    members: list[dict] | None = None,
    groups: list[dict] | None = None,
    extensions: dict[str, dict] | None = None,
) -> dict:
    """The full SCIM representation of a stored resource, before projection. ``extensions``: the
    server-computed ones read for this request (the provisioning state), by URN; empty ones are left out."""
    for urn, value in (extensions or {}).items():
        assigned = {k: v for k, v in value.items() if v not in (None, "", [], {})}  # RFC 7643 §2.5
        if assigned:
            attributes = {**attributes, urn: assigned}
    out: dict = {"schemas": schemas_of(rtype, attributes), "id": resource_id}
    out.update(attributes)
    if members is not None:
        out["members"] = members
    if groups is not None:
        out["groups"] = groups
    out["meta"] = {
        "resourceType": rtype.name,
        "created": meta.created,
        "lastModified": meta.last_modified,
        "location": meta.location,
        "version": etag(meta.version),
    }
    return out
