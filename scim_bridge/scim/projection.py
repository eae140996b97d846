"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9).

A projection is parsed once per request; it both trims rendered resources and tells the store which
expensive parts it may skip (a group read that excludes ``members`` never loads them).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from scim_bridge.scim.schemas import AttributePath, ResourceType

# Microsoft's test collection asks for ``attributes=emails[type eq "work"]``; the RFC has no filter
# there, so the bracket is dropped and the whole attribute returned.
_BRACKET = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class Projection:
    rtype: ResourceType
    include: tuple[AttributePath, ...] | None = None  # None: the default set
    exclude: tuple[AttributePath, ...] = ()

    def wants(self, attribute_name: str) -> bool:
        """Whether a top-level core attribute (``members``, ``groups``) appears in the output."""
        if self.include is not None:
            return any(p.urn is None and p.attribute.name == attribute_name for p in self.include)
        return not any(p.urn is None and p.attribute.name == attribute_name and p.sub_attribute is None
                       for p in self.exclude)

    def requests(self, urn: str) -> bool:
        """Whether ``attributes`` names an extension or one of its attributes: the way to ask for
        attributes returned only on request (RFC 7643 §7); ``excludedAttributes`` never does."""
        return self.include is not None and any(p.urn == urn for p in self.include)

    def apply(self, resource: dict) -> dict:
        out = {k: v for k, v in resource.items() if k in ("schemas", "id")}
        if self.include is not None:
            for path in self.include:
                _copy(resource, out, path)
            return out
        dropped = [path for path in self.exclude if path.attribute.returned != "always"]
        if not dropped:
            return resource  # the default set: nothing to trim, nothing to copy
        out = copy.deepcopy(resource)
        for path in dropped:
            _drop(out, path)
        return out


def parse_projection(rtype: ResourceType, attributes: str | None, excluded: str | None) -> Projection:
    """Unknown names are ignored: the RFC does not make them an error and IdPs send odd ones."""
    include = _paths(rtype, attributes) if attributes else None
    return Projection(rtype, tuple(include) if include is not None else None, tuple(_paths(rtype, excluded)))


def _paths(rtype: ResourceType, text: str | None) -> list[AttributePath]:
    paths = []
    for raw in (text or "").split(","):
        name = _BRACKET.sub("", raw.strip())
        if not name:
            continue
        path = rtype.resolve(name)
        if path is None:
            extension = rtype.extension(name)
            if extension is None:
                continue
            paths.extend(AttributePath(extension.id, a) for a in extension.attributes)
            continue
        paths.append(path)
    return paths


def _container(resource: dict, path: AttributePath) -> dict | None:
    return resource.get(path.urn) if path.urn else resource


def _copy(source: dict, out: dict, path: AttributePath) -> None:
    holder = _container(source, path)
    if not isinstance(holder, dict) or path.attribute.name not in holder:
        return
    value = holder[path.attribute.name]
    target = out.setdefault(path.urn, {}) if path.urn else out
    if path.sub_attribute is None:
        target[path.attribute.name] = value
        return
    sub = path.sub_attribute.name
    if isinstance(value, list):
        existing = target.setdefault(path.attribute.name, [{} for _ in value])
        for item, dest in zip(value, existing, strict=False):
            if isinstance(item, dict) and sub in item:
                dest[sub] = item[sub]
        target[path.attribute.name] = existing
    elif isinstance(value, dict) and sub in value:
        target.setdefault(path.attribute.name, {})[sub] = value[sub]


def _drop(out: dict, path: AttributePath) -> None:
    holder = _container(out, path)
    if not isinstance(holder, dict) or path.attribute.name not in holder:
        return
    if path.sub_attribute is None:
        del holder[path.attribute.name]
    else:
        value = holder[path.attribute.name]
        holder[path.attribute.name] = (
            [{k: v for k, v in i.items() if k != path.sub_attribute.name} for i in value]
            if isinstance(value, list)
            else {k: v for k, v in value.items() if k != path.sub_attribute.name}
        )
    if path.urn and not holder:
        del out[path.urn]

