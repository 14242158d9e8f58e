"""moto tuned for a stack that runs for hours: work per request bounded by what it touches, memory bounded.

moto models DynamoDB's semantics faithfully, but four of its shortcuts, harmless
in a unit test, make a long-running local stack slow and ever larger (on the
3,000-contact demo, 20 segment backfills with simulated traffic took the stack
from 197 MiB to 5,857 MiB in 31 minutes, still growing; see
``benchmarks/bench_local_memory.py``). Each patch below removes one, and leaves
the semantics the engine relies on as they were:

``untracked``
    moto appends every model object it ever creates to a class-level list for
    its dashboard (``BaseModel.instances_tracked``) and never lets go: every
    item version, every copy of a Query result, every stream record and shard
    iterator, every SQS message. Objects of the services the stack uses
    (DynamoDB, DynamoDB Streams, SQS, EventBridge) are no longer tracked, so
    they are freed when moto drops them; the dashboard no longer lists them.

``transactions``
    ``TransactWriteItems`` deep-copies every table it names (all items and the
    stream's records) to be able to roll back, and a rollback *replaces* the
    table object with the copy, so a stream reader keeps reading the discarded
    table's shard: it gets the records of the writes that were undone, and
    never another record. Here the copy is skipped and
    an undo journal keeps, for each item the transaction writes, its state
    before the first write, and the stream's length: a failed transaction
    restores exactly those items and drops the stream records it appended.
    moto's own code still runs every check (conditions, one operation per
    item, validation) and decides the outcome.

``query``
    ``Table.query`` lists and sorts every item of the table to pick one
    partition, so a Query's cost grows with the table (a backfill is O(N²)).
    Here moto's query code runs unchanged on the candidate items only: the
    partition (table or local index), or for a global index the items whose
    index hash key has the queried value, from a map kept up to date on every
    write. moto still applies the key conditions, sorting, ``ExclusiveStartKey``,
    ``Limit``, filters and projections to them, so results and
    ``LastEvaluatedKey`` are what moto returns without the patch.

``streams``
    A stream keeps every record forever (DynamoDB keeps 24 hours). Here a
    shard drops the records every active reader has moved past, and records
    older than 24 hours. A reader is an iterator chain: it starts at
    GetShardIterator, and calling GetRecords with an iterator acknowledges
    everything before that iterator's position (so the records a call returns
    stay until the reader asks for the next ones, and retrying with the same
    iterator works). A chain unused for 15 minutes (DynamoDB's iterator
    lifetime), or whose iterator moto no longer holds, stops holding records
    back; with no active reader only the age limit applies, so a reader that
    starts at TRIM_HORIZON later still finds what a fresh DynamoDB stream would
    hold. Reading a position that was dropped is DynamoDB's
    ``TrimmedDataAccessException``, and an iterator moto no longer holds is
    ``ExpiredIteratorException`` (moto raises a bare ``KeyError``: a 500 from
    its server), never a silent skip. The stream pump is safe by construction:
    it reads each chain forward and, when an iterator expires, reopens after the
    last sequence number it read, which is never before what it acknowledged.

:func:`apply` installs them in this process (moto in-process under
``mock_aws`` and moto's server alike), once; :func:`restore` takes them out. Each
patch checks the moto internals it replaces first: if the installed moto
differs, that patch is not installed, a warning says which and why, and moto
keeps its own behaviour (``tests/integration/test_moto_tuning.py`` fails on
such a moto, so it cannot pass unnoticed).
"""

from __future__ import annotations

import copy
import inspect
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

__all__ = [
    "PATCHES",
    "READER_IDLE_SECONDS",
    "RETENTION",
    "applied",
    "apply",
    "restore",
    "untuned",
]

log = logging.getLogger("growthos_segments.devstack")

PATCHES = ("untracked", "transactions", "query", "streams")
UNTRACKED_SERVICES = frozenset({"dynamodb", "dynamodbstreams", "sqs", "events"})
READER_IDLE_SECONDS = 900.0
"""A reader that has not called GetRecords for this long no longer holds records back."""
RETENTION = timedelta(hours=24)
"""DynamoDB Streams' retention: older records are dropped whether read or not."""

_ABSENT = object()
_lock = threading.Lock()
_originals: dict[tuple[type, str], Any] = {}
_applied: set[str] = set()
_local = threading.local()


def applied() -> frozenset[str]:
    """The patches in effect in this process."""
    return frozenset(_applied)


def apply() -> frozenset[str]:
    """Install every patch the installed moto allows (idempotent); returns those in effect."""
    with _lock:
        for name, check, install in _PATCHES:
            if name in _applied:
                continue
            problem = check()
            if problem:
                log.warning("moto tuning %r not applied (%s); moto's own behaviour stays", name, problem)
                continue
            install()
            _applied.add(name)
        return frozenset(_applied)


def restore() -> None:
    """Take every patch out again (moto as installed)."""
    with _lock:
        for (owner, attribute), original in reversed(_originals.items()):
            if original is _ABSENT:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)
        _originals.clear()
        _applied.clear()
        _gsi_maps.clear()
        _readers.clear()
        _reader_at.clear()


@contextmanager
def untuned() -> Iterator[None]:
    """moto as installed inside the block, the patches that were in effect after it."""
    before = applied()
    restore()
    try:
        yield
    finally:
        if before:
            apply()


def _replace(owner: type, attribute: str, replacement: Any) -> None:
    """Set ``owner.attribute`` and remember what was there, for :func:`restore`."""
    _originals.setdefault((owner, attribute), owner.__dict__.get(attribute, _ABSENT))
    setattr(owner, attribute, replacement)


def _unpatched(owner: type, attribute: str) -> Any:
    """``owner.attribute`` as moto defines it (``_ABSENT``: it does not), patched or not."""
    if (owner, attribute) in _originals:
        return _originals[(owner, attribute)]
    return getattr(owner, attribute, _ABSENT)


def _requires(owner: type, attribute: str, *fragments: str) -> str | None:
    """``None`` when moto's ``owner.attribute`` still holds every fragment, else what is missing."""
    function = _unpatched(owner, attribute)
    if function is _ABSENT:
        return f"{owner.__qualname__}.{attribute} does not exist"
    return _source_has(function, *fragments)


def _source_has(function: Callable[..., Any], *fragments: str) -> str | None:
    """``None`` when ``function``'s source holds every fragment, else what is missing."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError) as error:
        return f"cannot read the source of {function.__qualname__}: {error}"
    missing = [fragment for fragment in fragments if fragment not in source]
    return f"{function.__qualname__} no longer contains {missing}" if missing else None


# --- untracked: model objects are freed when moto drops them ------------------------------------


def _check_untracked() -> str | None:
    from moto.core.common_models import BaseModel

    return _requires(BaseModel, "__new__", "super().__new__(cls)", "cls.instances_tracked.append(instance)")


def _install_untracked() -> None:
    from moto.core.common_models import BaseModel

    tracked: dict[type, bool] = {}

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        instance = super(BaseModel, cls).__new__(cls)  # what BaseModel.__new__ does, less the tracking
        keep = tracked.get(cls)
        if keep is None:
            service = [*cls.__module__.split("."), ""][1]  # moto.<service>.models...
            keep = tracked[cls] = service not in UNTRACKED_SERVICES
        if keep:
            cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
        return instance

    _replace(BaseModel, "__new__", staticmethod(__new__))


# --- shared by transactions and query: where moto stores an item --------------------------------

Key = tuple[Any, Any]
"""(hash key, range key or None) as moto's ``DynamoType`` values."""


def _stored(table: Any, key: Key) -> Any:
    partition = table.items.get(key[0])
    if partition is None or table.range_key_attr is None:
        return partition
    return partition.get(key[1])


def _store(table: Any, key: Key, item: Any) -> None:
    hash_key, range_key = key
    if table.range_key_attr is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is not None:
        table.items[hash_key][range_key] = item
        return
    partition = table.items.get(hash_key)
    if partition is not None:
        partition.pop(range_key, None)
        if not partition:
            del table.items[hash_key]


def _item_key(table: Any, attrs: Any) -> Key | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None
    if table.range_key_attr is None:
        return DynamoType(attrs[table.hash_key_attr]), None
    if table.range_key_attr not in attrs:
        return None
    return DynamoType(attrs[table.hash_key_attr]), DynamoType(attrs[table.range_key_attr])


def _update_key(table: Any, key: Any) -> Key:
    """The item ``DynamoDBBackend.update_item`` writes, parsed as it parses ``key``."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr in key and table.range_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
    if table.hash_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), None
    return DynamoType(key), None


def _written(table: Any, key: Key | None, *, in_place: bool) -> None:
    """Called before moto writes ``key``: journal its state for an open transaction."""
    journal: _Journal | None = getattr(_local, "journal", None)
    if key is None or journal is None or id(table) not in journal.tables:
        return
    before = journal.before.setdefault(id(table), {})
    if key not in before:
        current = _stored(table, key)
        # UpdateItem changes the stored object in place; other writes replace or drop it.
        before[key] = copy.deepcopy(current) if in_place and current is not None else current


def _changed(table: Any, key: Key | None) -> None:
    """Called after moto wrote ``key``: keep the global-index maps in step."""
    if key is None:
        return
    maps = _gsi_maps.get(table)
    if maps:
        item = _stored(table, key)
        for index_map in maps.values():
            index_map.update(key, item)


def _install_write_hooks() -> None:
    """Hooks on every path that writes an item (PutItem, BatchWriteItem, PartiQL, imports
    and transactions go through ``Table.put_item``/``delete_item``; UpdateItem changes the
    stored item in place)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if (Table, "put_item") in _originals:
        return
    put_item = Table.put_item
    delete_item = Table.delete_item
    update_item = DynamoDBBackend.update_item

    def put(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _written(self, _item_key(self, item_attrs), in_place=False)
        item = put_item(self, item_attrs, *args, **kwargs)
        _changed(self, (item.hash_key, item.range_key))
        return item

    def delete(self: Any, hash_key: Any, range_key: Any) -> Any:
        key = (hash_key, range_key if self.range_key_attr is not None else None)
        _written(self, key, in_place=False)
        item = delete_item(self, hash_key, range_key)
        _changed(self, key)
        return item

    def update(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        parsed = _update_key(table, key)
        _written(table, parsed, in_place=True)
        try:
            return update_item(self, table_name, key, *args, **kwargs)
        finally:
            _changed(table, parsed)

    _replace(Table, "put_item", put)
    _replace(Table, "delete_item", delete)
    _replace(DynamoDBBackend, "update_item", update)


def _check_write_hooks() -> str | None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    return (
        _requires(Table, "put_item", "self.items[hash_value][range_value] = item", "self.items[hash_value] =")
        or _requires(Table, "delete_item", "self.items[hash_key].pop(range_key)", "self.items.pop(hash_key)")
        or _requires(DynamoDBBackend, "update_item", "item = table.get_item(hash_value, range_value)")
    )


# --- transactions: an undo journal instead of copies of whole tables ----------------------------


@dataclass
class _Journal:
    """What one TransactWriteItems call may have to undo."""

    tables: dict[int, Any]
    before: dict[int, dict[Key, Any]] = field(default_factory=dict)
    stream_end: dict[int, int] = field(default_factory=dict)

    def undo(self) -> None:
        for table_id, table in self.tables.items():
            for key, item in self.before.get(table_id, {}).items():
                _store(table, key, item)
                _changed(table, key)
            shard = table.stream_shard
            if shard is not None and table_id in self.stream_end:
                with _stream_lock:
                    del shard.items[max(0, self.stream_end[table_id] - shard.starting_sequence_number):]


def _check_transactions() -> str | None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table

    if _unpatched(Table, "__deepcopy__") is not _ABSENT:
        return "moto's Table defines __deepcopy__ itself"
    return (
        _requires(
            DynamoDBBackend,
            "transact_write_items",
            "original_table_state[table_name] = copy.deepcopy(",
            "self.tables[table_name] = original_table_state[table_name]",
        )
        or _check_write_hooks()
        or _requires(StreamShard, "add", "seq = len(self.items) + self.starting_sequence_number")
    )


def _install_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    _install_write_hooks()
    transact_write_items = DynamoDBBackend.transact_write_items

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        names = {op.get("TableName") for entry in transact_items for op in entry.values()
                 if isinstance(op, dict)}
        tables = {id(t): t for name, t in self.tables.items() if name in names}
        journal = _Journal(tables)
        for table_id, table in tables.items():
            if table.stream_shard is not None:
                shard = table.stream_shard
                journal.stream_end[table_id] = shard.starting_sequence_number + len(shard.items)
        _local.journal = journal
        try:
            transact_write_items(self, transact_items)
        except BaseException:
            journal.undo()  # moto "restored" each table to itself (see __deepcopy__ below)
            raise
        finally:
            _local.journal = None

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        journal: _Journal | None = getattr(_local, "journal", None)
        if journal is not None and id(self) in journal.tables:
            return self  # moto's rollback snapshot: the journal stands in for it
        clone = self.__class__.__new__(self.__class__)  # what copy.deepcopy does for any other object
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    _replace(DynamoDBBackend, "transact_write_items", transact)
    _replace(Table, "__deepcopy__", __deepcopy__)


# --- query: moto's query code on the candidate items only ---------------------------------------


class _GsiMap:
    """Items of one table by the value of one global index's hash key (a superset of any
    Query's matches: moto still checks every condition on what this returns)."""

    def __init__(self, table: Any, hash_attrs: tuple[str, ...]) -> None:
        self.hash_attrs = hash_attrs
        self.buckets: dict[tuple[Any, ...], dict[Key, Any]] = {}
        self.where: dict[Key, tuple[Any, ...]] = {}
        for partition in list(table.items.values()):
            for item in list(partition.values()) if table.range_key_attr else [partition]:
                self.update((item.hash_key, item.range_key), item)

    def update(self, key: Key, item: Any) -> None:
        old = self.where.pop(key, None)
        if old is not None:
            bucket = self.buckets[old]
            bucket.pop(key, None)
            if not bucket:
                del self.buckets[old]
        if item is None:
            return
        values = tuple(item.attrs.get(attr) for attr in self.hash_attrs)
        if any(value is None for value in values):
            return  # not in the index (DynamoDB indexes only items with every key attribute)
        self.buckets.setdefault(values, {})[key] = item
        self.where[key] = values

    def items(self, values: tuple[Any, ...]) -> list[Any]:
        return list(self.buckets.get(values, {}).values())


_gsi_maps: weakref.WeakKeyDictionary[Any, dict[tuple[str, tuple[str, ...]], _GsiMap]] = (
    weakref.WeakKeyDictionary()
)


def _partition(table: Any, hash_key: Any) -> list[Any]:
    partition = table.items.get(hash_key)
    if partition is None:
        return []
    return list(partition.values()) if table.range_key_attr is not None else [partition]


def _candidates(table: Any, hash_key: Any, index_name: str | None, conditions: Any) -> list[Any] | None:
    """Items that include every match of the Query; ``None``: use moto's full list."""
    if index_name is None:
        return None if hash_key is None else _partition(table, hash_key)
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None  # moto answers with its own error
    hash_attrs = tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
    wanted = dict(conditions or ())
    if not hash_attrs or any(attr not in wanted for attr in hash_attrs):
        return None
    if index in (table.indexes or []):
        if hash_attrs != (table.hash_key_attr,):
            return None
        return _partition(table, wanted[table.hash_key_attr])
    maps = _gsi_maps.setdefault(table, {})
    index_map = maps.get((index_name, hash_attrs))
    if index_map is None:
        index_map = maps[(index_name, hash_attrs)] = _GsiMap(table, hash_attrs)
    return index_map.items(tuple(wanted[attr] for attr in hash_attrs))


def _check_query() -> str | None:
    from moto.dynamodb.models.table import Table

    query = _unpatched(Table, "query")
    missing = {"hash_key", "index_name", "hash_key_conditions"} - set(inspect.signature(query).parameters)
    if missing:
        return f"Table.query has no parameter(s) {sorted(missing)}"
    return (
        _requires(Table, "query", "for item in self.all_items():", "for item in self.all_items()\n")
        or _requires(Table, "all_items", "for hash_set in self.items.values():")
        or _check_write_hooks()
    )


def _install_query() -> None:
    from moto.dynamodb.models.table import Table

    _install_write_hooks()
    query = Table.query
    all_items = Table.all_items
    signature = inspect.signature(query)

    def scoped_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        candidates = _candidates(
            self, arguments.get("hash_key"), arguments.get("index_name"), arguments.get("hash_key_conditions")
        )
        if candidates is None:
            return query(self, *args, **kwargs)
        outer = getattr(_local, "scope", None)
        _local.scope = (self, candidates)
        try:
            return query(self, *args, **kwargs)
        finally:
            _local.scope = outer

    def scoped_all_items(self: Any) -> list[Any]:
        scope = getattr(_local, "scope", None)
        if scope is not None and scope[0] is self:
            return list(scope[1])
        return all_items(self)

    _replace(Table, "query", scoped_query)
    _replace(Table, "all_items", scoped_all_items)


# --- streams: drop what every reader has passed -------------------------------------------------


@dataclass(eq=False)
class _Reader:
    """One iterator chain on one shard: the position it has acknowledged, when it last
    read, and its newest iterator (the one it will read with next)."""

    shard: Any
    position: int
    seen: float
    iterator: str


_readers: weakref.WeakKeyDictionary[Any, list[_Reader]] = weakref.WeakKeyDictionary()
"""Active readers by shard."""
_reader_at: dict[str, _Reader] = {}
"""Each active reader by its newest iterator."""
_clock: Callable[[], float] = time.monotonic
"""When a reader was last seen (replaced by tests of the idle rule)."""
_stream_lock = threading.RLock()
"""Appending, reading and trimming a shard exclude each other (moto in-process has no
request lock, and a record's sequence number is computed from the shard's length)."""


def _trimmed(shard: Any, sequence: int) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(
        "TrimmedDataAccessException",
        f"sequence number {sequence} is before the oldest record the shard still holds "
        f"({shard.starting_sequence_number})",
    )


def _expired() -> Exception:
    """DynamoDB's answer to an iterator it no longer holds (moto's is a KeyError: a 500
    from its server, an exception out of boto3 in-process)."""
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("ExpiredIteratorException", "the shard iterator has expired or is unknown")


def _follow(reader: _Reader, iterator: str) -> None:
    _reader_at.pop(reader.iterator, None)
    reader.iterator = iterator
    _reader_at[iterator] = reader


def _forget(reader: _Reader) -> None:
    _reader_at.pop(reader.iterator, None)
    held = _readers.get(reader.shard)
    if held is not None and reader in held:
        held.remove(reader)


def _trim(shard: Any, now: float) -> None:
    from moto.core.utils import utcnow

    for reader in [r for r in _readers.get(shard, []) if now - r.seen > READER_IDLE_SECONDS]:
        _forget(reader)
    active = _readers.get(shard, [])
    start = shard.starting_sequence_number
    drop = min(r.position for r in active) - start if active else 0
    drop = max(0, min(drop, len(shard.items)))
    oldest_kept = utcnow() - RETENTION
    items = shard.items
    while drop < len(items) and items[drop].record["dynamodb"]["ApproximateCreationDateTime"] < oldest_kept:
        drop += 1
    if drop:
        del items[:drop]
        shard.starting_sequence_number = start + drop


def _check_streams() -> str | None:
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    return (
        _requires(StreamShard, "get", "start -= self.starting_sequence_number", "self.items[start:end]")
        or _requires(StreamShard, "add", "seq = len(self.items) + self.starting_sequence_number")
        or _requires(ShardIterator, "__init__", "sequence_number = stream_shard.starting_sequence_number")
        or _requires(ShardIterator, "get", '"NextShardIterator": new_shard_iterator.arn')
        or _requires(DynamoDBStreamsBackend, "get_records", "self.shard_iterators[iterator_arn]")
        or _requires(DynamoDBStreamsBackend, "get_shard_iterator", "self.shard_iterators[shard_iterator.arn]")
    )


def _install_streams() -> None:
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    add = StreamShard.add
    get_shard_iterator = DynamoDBStreamsBackend.get_shard_iterator
    get_records = DynamoDBStreamsBackend.get_records

    def append(self: Any, old: Any, new: Any) -> None:
        with _stream_lock:  # a record's sequence number is the shard's length plus its start
            add(self, old, new)

    def open_iterator(self: Any, arn: str, shard_id: str, iterator_type: str, sequence: Any = None) -> Any:
        with _stream_lock:
            iterator = get_shard_iterator(self, arn, shard_id, iterator_type, sequence)
            shard = iterator.stream_shard
            if iterator.sequence_number < shard.starting_sequence_number:
                self.shard_iterators.pop(iterator.arn, None)
                raise _trimmed(shard, iterator.sequence_number)
            reader = _Reader(shard, iterator.sequence_number, _clock(), iterator.arn)
            _readers.setdefault(shard, []).append(reader)
            _reader_at[iterator.arn] = reader
            return iterator

    def read(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        with _stream_lock:
            iterator = self.shard_iterators.get(iterator_arn)
            reader = _reader_at.get(iterator_arn)
            if iterator is None:
                if reader is not None:
                    _forget(reader)  # it must open a new chain
                raise _expired()
            shard = iterator.stream_shard
            if iterator.sequence_number < shard.starting_sequence_number:
                raise _trimmed(shard, iterator.sequence_number)
            result = get_records(self, iterator_arn, limit)
            now = _clock()
            if reader is None:  # an older iterator of a chain, or one issued before the patch
                reader = _Reader(shard, iterator.sequence_number, now, iterator_arn)
                _readers.setdefault(shard, []).append(reader)
            reader.position, reader.seen = iterator.sequence_number, now
            _follow(reader, result["NextShardIterator"])
            _trim(shard, now)
            return result

    _replace(StreamShard, "add", append)
    _replace(DynamoDBStreamsBackend, "get_shard_iterator", open_iterator)
    _replace(DynamoDBStreamsBackend, "get_records", read)


_PATCHES: tuple[tuple[str, Callable[[], str | None], Callable[[], None]], ...] = (
    ("untracked", _check_untracked, _install_untracked),
    ("transactions", _check_transactions, _install_transactions),
    ("query", _check_query, _install_query),
    ("streams", _check_streams, _install_streams),
)
