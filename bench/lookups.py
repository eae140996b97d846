"""Benchmark 1: the look-ups identity providers make before every write, at scale.

Each request runs through the real Flask app. Its median at the large scale is compared with the
same request at 1,000 users (about 1.0 means an index answers it: the cost does not grow with the
table) and with ``GET /ServiceProviderConfig`` at the same scale (the fixed cost of a request:
routing, bearer-token check, JSON rendering).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from bench.bridge import Bridge
from bench.dataset import Scale, group_name, user_name
from bench.measure import Measurement, Table, ratio, time_interleaved


@dataclass(frozen=True)
class Lookup:
    name: str
    path: Callable[[Scale, int], str]  # the request for the i-th run
    expected: Callable[[Scale, int], tuple[str, str]]  # (attribute, value) the answer must carry


def _filtered(resource: str, expression: str, extra: str = "") -> str:
    return f"/{resource}?{extra}filter={quote(expression)}"


LOOKUPS = (
    Lookup("userName eq",
           lambda s, i: _filtered("Users", f'userName eq "{user_name(s.spread(i))}"'),
           lambda s, i: ("userName", user_name(s.spread(i)))),
    Lookup("externalId eq",
           lambda s, i: _filtered("Users", f'externalId eq "ext-{s.spread(i)}"'),
           lambda s, i: ("userName", user_name(s.spread(i)))),
    Lookup('emails[type eq "work"].value eq',
           lambda s, i: _filtered("Users", f'emails[type eq "work"].value eq "{user_name(s.spread(i))}"'),
           lambda s, i: ("userName", user_name(s.spread(i)))),
    Lookup("Groups displayName eq, excludedAttributes=members",
           lambda s, i: _filtered("Groups", f'displayName eq "{group_name(s.spread(i) % s.groups)}"',
                                  "excludedAttributes=members&"),
           lambda s, i: ("displayName", group_name(s.spread(i) % s.groups))),
    Lookup("GET /Groups/{big}?excludedAttributes=members",
           lambda s, i: f"/Groups/{s.big_group}?excludedAttributes=members",
           lambda s, i: ("id", s.big_group)),
)
FIXED_COST = "GET /ServiceProviderConfig"


def _check(bridge: Bridge, lookup: Lookup, scale: Scale) -> None:
    """The request must find what it looks for; a benchmark of 404s or empty lists would mislead."""
    for i in (0, 1):
        reply = bridge.scim.get(lookup.path(scale, i))
        if reply.status != 200:
            raise AssertionError(f"{lookup.name}: HTTP {reply.status} {reply.body}")
        found = reply.body.get("Resources", [reply.body])
        attribute, value = lookup.expected(scale, i)
        if [r.get(attribute) for r in found] != [value] or any("members" in r for r in found):
            raise AssertionError(f"{lookup.name}: expected one resource with {attribute}={value!r}, got {found}")


def _request(bridge: Bridge, name: str, path: Callable[[int], str]) -> Callable[[int], None]:
    def run(i: int) -> None:
        response = bridge.read(path(i))
        if response.status_code != 200:
            raise AssertionError(f"{name}: HTTP {response.status_code}")

    return run


def _case(name: str, scale: Scale) -> str:
    return f"{name} @ {scale.label}"


def measure_lookups(stores: list[tuple[Scale, Bridge]], *, repeat: int, warmup: int) -> dict[str, Measurement]:
    """Every look-up and the fixed-cost request on each loaded store, by ``_case`` name. All of them
    take turns, so that the ratios between stores and requests are measured under the same load."""
    runs = {}
    for scale, bridge in stores:
        runs[_case(FIXED_COST, scale)] = _request(bridge, FIXED_COST, lambda i: "/ServiceProviderConfig")
        for lookup in LOOKUPS:
            _check(bridge, lookup, scale)
            runs[_case(lookup.name, scale)] = _request(bridge, lookup.name,
                                                       lambda i, lk=lookup, sc=scale: lk.path(sc, i))
    return time_interleaved(runs, repeat=repeat, warmup=warmup)


def lookup_table(database: str, large: Scale, small: Scale, measured: dict[str, Measurement]) -> Table:
    scaling, fixed = f"÷ same at {small.label}", f"÷ {FIXED_COST}"
    table = Table(
        f"1. IdP look-ups at scale — {database}",
        f"{large.label}, a {large.members:,}-member group and {large.groups:,} groups, against the same requests "
        f"on {small.label}, all taking turns. `{scaling}` ≈ 1.0 means the look-up is index-backed; `{fixed}` is "
        "the cost over a request that touches no table.",
        [scaling, fixed],
    )
    names = (FIXED_COST, *(lookup.name for lookup in LOOKUPS))
    for scale in (large, small):
        base = measured[_case(FIXED_COST, scale)]
        for name in names:
            this = measured[_case(name, scale)]
            ratios = {fixed: ratio(this, base)}
            if scale is large:
                ratios[scaling] = ratio(this, measured[_case(name, small)])
            table.add(this.name, this, ratios)
    return table
