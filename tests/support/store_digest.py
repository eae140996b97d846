"""A fingerprint of the whole store: per table, its row count and a SHA-256 of its rows in order.

Cheap enough to take before and after every request of a property-based run, and exact: any row
added, removed or changed changes it.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from scim_bridge.store.models import Base


def store_digest(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            digest, rows = hashlib.sha256(), 0
            for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
                rows += 1
            out[table.name] = (rows, digest.hexdigest())
    return out
