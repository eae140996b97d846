"""A small replay of Postman v2.1 collections: requests, variables, and the status checks of ``pm.test``.

Enough for Microsoft's "SCIM Tests" collection without newman: requests run in collection order
with ``{{variable}}`` substitution, the URL built from its components as newman builds it (not from
``raw``), bearer auth from the request's ``auth``; from each test script only what can be read
without a JavaScript engine is used: ``pm.response.to.have.status(N)`` inside a ``pm.test`` and
variables set from the JSON body (``pm.environment.set("id1", jsonData.id)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_STATUS_TEST = re.compile(r'pm\.test\(\s*"([^"]*)"[^{]*\{[^}]*?pm\.response\.to\.have\.status\((\d{3})\)', re.S)
_SET_FROM_BODY = re.compile(r'pm\.environment\.set\(\s*"([A-Za-z0-9_]+)"\s*,\s*jsonData\.([A-Za-z0-9_]+)\s*\)')


@dataclass(frozen=True)
class Outcome:
    """One request as replayed: what the collection expects and what the server answered."""

    folder: str
    name: str
    method: str
    path: str
    expected_status: int | None  # None when the item has no status check
    status: int

    @property
    def agrees(self) -> bool:
        return self.expected_status is None or self.expected_status == self.status


@dataclass
class Replay:
    outcomes: list[Outcome] = field(default_factory=list)

    def disagreements(self) -> dict[tuple[str, str], tuple[int, int]]:
        """{(folder, request name): (status expected by the collection, status answered)}."""
        return {(o.folder, o.name): (o.expected_status, o.status) for o in self.outcomes if not o.agrees}


def requests_in(items: list[dict], folder: str = "") -> Iterator[tuple[str, dict]]:
    for item in items:
        if "item" in item:
            yield from requests_in(item["item"], item["name"])
        else:
            yield folder, item


def _script(item: dict, listen: str) -> str:
    return "\n".join("\n".join(e["script"].get("exec", [])) for e in item.get("event", []) if e["listen"] == listen)


class PostmanReplay:
    def __init__(self, variables: dict[str, str], *, session: requests.Session, skip: set[str] = frozenset(),
                 timeout: float = 30.0):
        self.variables = dict(variables)
        self.session = session
        self.skip = skip  # request names not to send (the reference server's own /Token)
        self.timeout = timeout

    def _fill(self, text: str) -> str:
        return _VARIABLE.sub(lambda m: self.variables.get(m.group(1), m.group(0)), text)

    def _url(self, url: dict) -> tuple[str, str]:
        """(full URL, path and query) from the URL's components, as newman sends it."""
        host = self._fill(".".join(url["host"]))
        path = "/" + "/".join(self._fill(part) for part in url.get("path", []))
        query = "&".join(f"{q['key']}={q.get('value') or ''}" for q in url.get("query", []) if not q.get("disabled"))
        tail = path + (f"?{self._fill(query)}" if query else "")
        return f"{self._fill(url['protocol'])}://{host}{tail}", tail

    def run(self, collection: dict) -> Replay:
        replay = Replay()
        for folder, item in requests_in(collection["item"]):
            if item["name"] in self.skip:
                continue
            request = item["request"]
            url, shown = self._url(request["url"])
            headers = {h["key"]: self._fill(h["value"]) for h in request.get("header", []) if not h.get("disabled")}
            auth = request.get("auth") or {}
            if auth.get("type") == "bearer":
                token = next(e["value"] for e in auth["bearer"] if e["key"] == "token")
                headers["Authorization"] = f"Bearer {self._fill(token)}"
            body = request.get("body") or {}
            data = self._fill(body["raw"]).encode() if body.get("mode") == "raw" else None
            response = self.session.request(request["method"], url, headers=headers, data=data, timeout=self.timeout)
            tests = _script(item, "test")
            expected = [int(status) for _name, status in _STATUS_TEST.findall(tests)]
            replay.outcomes.append(Outcome(folder, item["name"], request["method"], shown,
                                           expected[0] if expected else None, response.status_code))
            for name, attribute in _SET_FROM_BODY.findall(tests):
                try:
                    value = response.json().get(attribute)
                except (ValueError, AttributeError):
                    value = None
                if value is not None:
                    self.variables[name] = str(value)
        return replay
