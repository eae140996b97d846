"""scim/bulk.py: the order a bulk job runs in, its cycles, and bulkId references (RFC 7644 §3.7.1–3.7.2)."""

from __future__ import annotations

import pytest

from scim_bridge.errors import InvalidValue, PayloadTooLarge
from scim_bridge.scim.bulk import BULK_REQUEST, Conflict, parse_bulk_request, resolve


def post(bulk_id: str, *refs: str, path: str = "/Groups") -> dict:
    return {"method": "POST", "path": path, "bulkId": bulk_id,
            "data": {"displayName": bulk_id, "members": [{"value": f"bulkId:{r}"} for r in refs]}}


def patch(path: str, *refs: str) -> dict:
    return {"method": "PATCH", "path": path,
            "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": f"bulkId:{r}"}
                                                                                for r in refs]}]}}


def job(*operations: dict, **envelope):
    return parse_bulk_request({"schemas": [BULK_REQUEST], "Operations": list(operations), **envelope}, 100)


@pytest.mark.parametrize(("operations", "order", "circular"), [
    ([post("a"), post("b")], (0, 1), set()),
    ([post("g", "u"), post("u")], (1, 0), set()),  # the referenced POST runs first
    ([post("g", "u", "v"), post("x"), post("v"), post("u")], (2, 3, 0, 1), set()),
    ([patch("/Groups/bulkId:g", "u"), post("g"), post("u")], (1, 2, 0), set()),  # a reference in the path
    ([post("a", "b"), post("b", "a")], (1, 0), {0, 1}),  # RFC 7644 §3.7.1's example
    ([post("a", "a")], (0,), {0}),
    ([post("a", "b"), post("b", "c"), post("c", "a"), post("d", "a")], (2, 1, 0, 3), {0, 1, 2}),
])
def test_order_and_cycles(operations, order, circular):
    parsed = job(*operations)
    assert parsed.order == order
    assert parsed.circular == circular


def test_a_long_chain_of_references_needs_no_recursion():
    chain = [post(f"n{i}", f"n{i + 1}") for i in range(5000)] + [post("n5000")]
    parsed = parse_bulk_request({"Operations": chain}, 10_000)
    assert parsed.order == tuple(range(5000, -1, -1)) and not parsed.circular


def test_references_are_whole_strings_anywhere_in_the_data():
    created = {"u": "id-1"}
    data = {"members": [{"value": "bulkId:u"}], "x": {"y": ["bulkId:u", "not bulkId:u"]}, "n": 3}
    assert resolve(data, created) == {"members": [{"value": "id-1"}], "x": {"y": ["id-1", "not bulkId:u"]}, "n": 3}
    with pytest.raises(Conflict, match='bulkId "v" failed'):
        resolve({"manager": {"value": "bulkId:v"}}, created)


def test_an_undeclared_reference_fails_its_operation_only():
    parsed = job(post("g", "nobody"), post("u"))
    assert isinstance(parsed.operations[0].problem, InvalidValue)
    assert parsed.operations[1].problem is None


def test_limits_and_envelope():
    with pytest.raises(PayloadTooLarge, match=r"maxOperations \(1\)"):
        parse_bulk_request({"Operations": [post("a"), post("b")]}, 1)
    with pytest.raises(InvalidValue, match="unique"):
        job(post("a"), post("a"))
    assert job(post("a"), failOnErrors=2).fail_on_errors == 2
    assert job(post("a")).fail_on_errors is None
    # Member names of the envelope and of operations are case-insensitive, like attribute names.
    parsed = parse_bulk_request({"operations": [{"METHOD": "delete", "Path": "users/42"}]}, 5)
    assert (parsed.operations[0].method, parsed.operations[0].rtype.name, parsed.operations[0].resource_id) == \
        ("DELETE", "User", "42")
