"""Every use of faust's private internals by the worker, each named with why it is needed.

faust-streaming is pinned (pyproject.toml): a new version may rename or change any of these,
so each is reached only from here, where an upgrade has one place to check.

- ``faust.stores.rocksdb.Store._dbs_for_actives()``: the RocksDB databases of the partitions
  this worker owns as active (not standby). Listed once, before any await, because a standby
  restore running meanwhile may open another partition's database and add it to the store's
  dict of databases, which would break a lazy walk of that dict (``table.items()``) with
  "dictionary changed size during iteration".
- ``faust.stores.rocksdb.Store._visible_items(db)``: the ``(key, value)`` pairs of one
  database, read through a RocksDB iterator (a snapshot), without faust's offset key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from faust.types import TableT

__all__ = ["active_items"]


def active_items(table: TableT[Any, Any], *, rocksdb: bool) -> Iterator[tuple[bytes, bytes]]:
    """Yield every stored ``(key, value)`` of the partitions this worker owns, once each.

    Safe to consume across awaits (see the module docstring). ``rocksdb`` False means the
    memory store: a dict of every key, copied before the walk.
    """
    if not rocksdb:
        yield from list(table.items())
        return
    store: Any = table.data
    for db in list(store._dbs_for_actives()):
        yield from store._visible_items(db)
