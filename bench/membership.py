"""Benchmark 2: membership changes on the big group (docs/architecture.md decision 3).

Adding one member to the big group should cost what it costs on a ten-member group (ratio ≈ 1):
one membership row and one queued user delivery per target, never a rewrite of the group. A full
``replace`` of the big group's members (what some identity providers push) is shown against the
single addition.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bench.bridge import Bridge
from bench.dataset import Scale
from bench.measure import Table, ratio, time_interleaved, time_runs
from scim_bridge.store.models import GroupMember


def _members(engine: sa.Engine, group_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(GroupMember.user_id).where(GroupMember.group_id == group_id)
                                 .order_by(GroupMember.user_id)))


def _patched(bridge: Bridge, group_id: str, operations: list[dict]) -> None:
    reply = bridge.scim.patch(f"/Groups/{group_id}", operations)
    if reply.status != 204:
        raise AssertionError(f"PATCH /Groups/{group_id}: HTTP {reply.status} {reply.body}")


def _add_one(bridge: Bridge, group_id: str, outsider: Callable[[int], str]) -> Callable[[int], None]:
    def run(i: int) -> None:
        _patched(bridge, group_id, [{"op": "add", "path": "members", "value": [{"value": outsider(i)}]}])

    return run


def membership_table(database: str, bridge: Bridge, engine: sa.Engine, scale: Scale, *, repeat: int, warmup: int,
                     replace_repeat: int, replace_budget: float) -> Table:
    big, small = time_interleaved({
        f"add 1 member to the {scale.members:,}-member group": _add_one(bridge, scale.big_group,
                                                                         scale.outsider_of_big),
        "add 1 member to a 10-member group": _add_one(bridge, scale.small_group, scale.outsider_of_small),
    }, repeat=repeat, warmup=warmup).values()
    added = warmup + repeat
    members = _members(engine, scale.big_group)
    if len(members) != scale.members + added:
        raise AssertionError(f"big group holds {len(members)} members, expected {scale.members + added}")

    def replace(i: int) -> None:
        # Each push differs from the stored list by one member out and one in, as after one IdP change.
        members[i] = scale.outsider_of_big(added + i)
        _patched(bridge, scale.big_group, [{"op": "replace", "path": "members",
                                            "value": [{"value": m} for m in members]}])

    full = time_runs(f"replace members ({len(members):,} sent: 1 out, 1 in)", replace, repeat=replace_repeat,
                     warmup=1, budget_seconds=replace_budget)
    if sorted(_members(engine, scale.big_group)) != sorted(members):
        raise AssertionError("the big group's members are not the ones last sent")
    vs_small, vs_add = "÷ add to 10-member group", "÷ add to big group"
    table = Table(f"2. Membership changes — {database}",
                  "PATCH /Groups/{id} through the app, with the three targets configured (worker off): each "
                  "addition stores one membership and queues one user delivery per target.", [vs_small, vs_add])
    table.add(big.name, big, {vs_small: ratio(big, small), vs_add: 1.0})
    table.add(small.name, small, {vs_small: 1.0})
    table.add(full.name, full, {vs_add: ratio(full, big)})
    return table

