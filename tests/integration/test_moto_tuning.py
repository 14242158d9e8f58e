"""The moto tuning of the local stack (``devstack.moto_tuning``): same answers, bounded work.

Every semantic test compares the tuned moto with moto as installed (``untuned``)
on the same data, or runs the same assertions on both; every cost test counts
work (key comparisons per Query, item copies per transaction, stream records
held, model objects kept), never time, and shows the untuned count growing
where the tuned one does not.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from botocore.exceptions import ClientError

from growthos_segments.devstack import moto_tuning
from growthos_segments.devstack.pump import IteratorExpired, MappingConfig, StreamPump, StreamReader
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.infra import aws
from growthos_segments.infra.settings import Settings

TABLE = "tuning"
_names = itertools.count()


@pytest.fixture
def client(mock_aws_session: None, settings: Settings) -> Any:
    return aws.client("dynamodb", settings)


def make_table(client: Any, name: str = TABLE) -> None:
    """Hash and range key, a global index with duplicate sort values (some items lack its
    keys), a local index, and a stream with both images: what the engine's tables use."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "gr", "lk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gr", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_lk",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "lk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def item(p: int, s: int) -> dict[str, Any]:
    n = p * 12 + s
    attrs: dict[str, Any] = {
        "pk": {"S": f"p{p}"},
        "sk": {"S": f"s{s:02d}"},
        "n": {"N": str(n % 7)},
        "lk": {"S": f"l{(s * 5) % 12:02d}"},
    }
    if n % 5:  # a sparse index: every fifth item is not in it
        attrs.update(g={"S": f"g{n % 4}"}, gr={"S": f"r{(s * 7) % 10}"})
    return attrs


def write_all(client: Any, items: list[dict[str, Any]], table: str = TABLE) -> None:
    for start in range(0, len(items), 25):
        client.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        )


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p2"}}, "Limit": 5},
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "p2"}},
        "Limit": 4,
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "p3"}, ":s": {"S": "s0"}},
        "Limit": 3,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "p0"}, ":a": {"S": "s03"}, ":b": {"S": "s09"}},
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :a",
        "ExpressionAttributeValues": {":p": {"S": "p4"}, ":a": {"S": "s05"}},
        "ScanIndexForward": False,
        "Limit": 2,
    },
    {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "n > :n",
        "Limit": 4,
        "ExpressionAttributeValues": {":p": {"S": "p5"}, ":n": {"N": "3"}},
    },
    {
        "KeyConditionExpression": "pk = :p",
        "ProjectionExpression": "sk, n",
        "ExpressionAttributeValues": {":p": {"S": "p1"}},
        "Select": "SPECIFIC_ATTRIBUTES",
        "Limit": 7,
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nowhere"}}},
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "p1"}},
        "Select": "COUNT",
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g1"}},
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g2"}},
        "Limit": 3,
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g3"}},
        "Limit": 4,
        "ScanIndexForward": False,
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g AND gr BETWEEN :a AND :b",
        "Limit": 2,
        "ExpressionAttributeValues": {":g": {"S": "g0"}, ":a": {"S": "r2"}, ":b": {"S": "r6"}},
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "FilterExpression": "n < :n",
        "Limit": 5,
        "ExpressionAttributeValues": {":g": {"S": "g1"}, ":n": {"N": "4"}},
    },
    {
        "IndexName": "by_g",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g9"}},
    },
    {
        "IndexName": "by_lk",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "p2"}},
        "Limit": 5,
    },
    {
        "IndexName": "by_lk",
        "KeyConditionExpression": "pk = :p AND lk < :l",
        "ScanIndexForward": False,
        "ExpressionAttributeValues": {":p": {"S": "p3"}, ":l": {"S": "l07"}},
    },
]


def run_queries(client: Any, table: str = TABLE) -> list[list[dict[str, Any]]]:
    """Every query of QUERIES, page by page (items, counts and LastEvaluatedKey of each page)."""
    answers = []
    for query in QUERIES:
        pages = []
        kwargs = {"TableName": table, **query}
        while True:
            page = client.query(**kwargs)
            page.pop("ResponseMetadata")
            pages.append(page)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        answers.append(pages)
    return answers


def scan(client: Any, table: str = TABLE) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=table)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def mutate(client: Any) -> None:
    """Every write path the engine uses, moving items in, out of and across index partitions."""
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p1"}, "sk": {"S": "s01"}},
        UpdateExpression="SET g = :g, gr = :r",
        ExpressionAttributeValues={":g": {"S": "g2"}, ":r": {"S": "r0"}},
    )
    client.update_item(
        TableName=TABLE, Key={"pk": {"S": "p2"}, "sk": {"S": "s03"}}, UpdateExpression="REMOVE g"
    )
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p9"}, "sk": {"S": "new"}},
        UpdateExpression="SET g = :g, gr = :r, n = :n",
        ExpressionAttributeValues={":g": {"S": "g1"}, ":r": {"S": "r5"}, ":n": {"N": "1"}},
    )
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "p3"}, "sk": {"S": "s02"}})
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "p4"},
            "sk": {"S": "s06"},
            "g": {"S": "g3"},
            "gr": {"S": "r1"},
            "n": {"N": "2"},
            "lk": {"S": "l00"},
        },
    )
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {"pk": {"S": "p0"}, "sk": {"S": "t1"}, "g": {"S": "g0"}, "gr": {"S": "r3"}},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "p0"}, "sk": {"S": "s04"}},
                    "UpdateExpression": "SET g = :g",
                    "ExpressionAttributeValues": {":g": {"S": "g3"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p5"}, "sk": {"S": "s00"}}}},
        ]
    )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "p1"}, "sk": {"S": "s05"}},
                        "UpdateExpression": "SET g = :g",
                        "ExpressionAttributeValues": {":g": {"S": "g0"}},
                    }
                },
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "p1"}, "sk": {"S": "t9"}, "g": {"S": "g0"}, "gr": {"S": "r0"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p2"}, "sk": {"S": "s07"}}}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "p3"}, "sk": {"S": "s03"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )


def test_every_patch_applies_to_the_installed_moto() -> None:
    """A moto upgrade that moves an internal a patch relies on fails here, not silently in the stack."""
    assert moto_tuning.apply() == frozenset(moto_tuning.PATCHES)


def test_query_answers_are_moto_s_own_before_and_after_every_kind_of_write(client: Any) -> None:
    make_table(client)
    write_all(client, [item(p, s) for p in range(6) for s in range(12)])
    with moto_tuning.untuned():
        expected = run_queries(client)
    assert run_queries(client) == expected  # the tuned moto builds its index map here
    mutate(client)  # ... and keeps it up to date through every write
    tuned = run_queries(client)
    with moto_tuning.untuned():
        assert tuned == run_queries(client)
    assert tuned != expected  # the writes did move items between the queried partitions


# --- work per Query ------------------------------------------------------------------------------


@contextmanager
def key_comparisons() -> Iterator[Counter[str]]:
    """Counts comparisons of DynamoDB values: moto's work to find, order and page a Query's items."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    counts: Counter[str] = Counter()
    originals = {name: DynamoType.__dict__[name] for name in ("__eq__", "__ne__", "__lt__", "__gt__")}

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def compare(self: Any, other: Any) -> Any:
            counts[name] += 1
            return original(self, other)

        return compare

    for name, original in originals.items():
        setattr(DynamoType, name, counting(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(DynamoType, name, original)


def query_cost(client: Any, others: int, query: dict[str, Any]) -> tuple[int, int]:
    """(comparisons, items) of one Query on a table of 12 wanted items and ``others`` unrelated ones."""
    table = f"cost{next(_names)}"
    make_table(client, table)
    wanted = [
        {**item(0, s), "pk": {"S": "target"}, "g": {"S": "gt"}, "gr": {"S": f"r{s % 3}"}} for s in range(12)
    ]
    write_all(client, wanted + [item(1 + n // 12, n % 12) for n in range(others)], table)
    client.query(TableName=table, **query)  # builds what is built once (the index map)
    with key_comparisons() as counts:
        answer = client.query(TableName=table, **query)
    return sum(counts.values()), answer["Count"]


@pytest.mark.parametrize(
    "query",
    [
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "target"}},
            "Limit": 5,
        },
        {
            "IndexName": "by_g",
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "gt"}},
            "Limit": 5,
        },
    ],
    ids=["table", "global-index"],
)
def test_a_query_examines_its_partition_not_the_table(client: Any, query: dict[str, Any]) -> None:
    small, found = query_cost(client, 120, query)
    large, found_large = query_cost(client, 1200, query)
    assert found == found_large == 5
    assert large == small < 300  # the same work whatever else the table holds
    with moto_tuning.untuned():
        untuned_small, _ = query_cost(client, 120, {**query})
        untuned_large, _ = query_cost(client, 1200, {**query})
    assert untuned_large > 1200 > untuned_small  # moto as installed looks at every item


# --- transactions ------------------------------------------------------------------------------


def stream_reader(client: Any, settings: Settings, table: str = TABLE) -> StreamReader:
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return StreamReader(aws.client("dynamodbstreams", settings), arn, settings.region)


class Chain:
    """One reader following its iterator chain, as the pump does."""

    def __init__(self, reader: StreamReader, position: str = "TRIM_HORIZON") -> None:
        self.reader = reader
        (shard,) = reader.shards()
        self.iterator: str | None = reader.iterator(shard.shard_id, position)

    def read(self) -> list[dict[str, Any]]:
        assert self.iterator is not None
        records, self.iterator = self.reader.read(self.iterator, 1000)
        return records


def keys_of(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in records
    ]


def refused_transaction() -> list[dict[str, Any]]:
    """Writes to four items, then a condition that fails: nothing may remain."""
    return [
        {
            "Put": {
                "TableName": TABLE,
                "Item": {"pk": {"S": "p0"}, "sk": {"S": "fresh"}, "g": {"S": "g1"}, "gr": {"S": "r1"}},
            }
        },
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p0"}, "sk": {"S": "s01"}, "n": {"N": "99"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "p0"}, "sk": {"S": "s02"}},
                "UpdateExpression": "SET g = :g, n = :n",
                "ExpressionAttributeValues": {":g": {"S": "g0"}, ":n": {"N": "42"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p0"}, "sk": {"S": "s03"}}}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "p0"}, "sk": {"S": "s04"}},
                "ConditionExpression": "n = :never",
                "ExpressionAttributeValues": {":never": {"N": "-1"}},
            }
        },
    ]


@pytest.mark.parametrize("tuned", [True, False], ids=["tuned", "untuned"])
def test_a_refused_transaction_leaves_nothing_written(client: Any, tuned: bool) -> None:
    with nullcontext() if tuned else moto_tuning.untuned():
        make_table(client)
        write_all(client, [item(0, s) for s in range(6)])
        before = scan(client)
        g0 = client.query(
            TableName=TABLE,
            IndexName="by_g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "g0"}},
        )["Items"]
        with pytest.raises(ClientError) as refused:
            client.transact_write_items(TransactItems=refused_transaction())
        reasons = [r["Code"] for r in refused.value.response["CancellationReasons"]]
        assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]
        assert scan(client) == before
        assert (
            client.query(
                TableName=TABLE,
                IndexName="by_g",
                KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": {"S": "g0"}},
            )["Items"]
            == g0
        )


def test_a_transaction_naming_one_item_twice_is_refused_and_undone(client: Any) -> None:
    make_table(client)
    write_all(client, [item(0, s) for s in range(3)])
    before = scan(client)
    twice = [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p0"}, "sk": {"S": "s00"}, "n": {"N": "5"}}}},
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p0"}, "sk": {"S": "s00"}}}},
    ]
    with pytest.raises(ClientError, match="ValidationException"):
        client.transact_write_items(TransactItems=twice)
    assert scan(client) == before


def test_a_transaction_applies_all_its_writes_with_their_stream_records_in_order(
    client: Any, settings: Settings
) -> None:
    make_table(client)
    write_all(client, [item(0, s) for s in range(5)])
    chain = Chain(stream_reader(client, settings))
    chain.read()
    ok = [entry for entry in refused_transaction() if "ConditionCheck" not in entry]
    client.transact_write_items(TransactItems=ok)
    assert keys_of(chain.read()) == [
        ("INSERT", "p0", "fresh"),
        ("MODIFY", "p0", "s01"),
        ("MODIFY", "p0", "s02"),
        ("REMOVE", "p0", "s03"),
    ]
    stored = {i["sk"]["S"]: i for i in scan(client)}
    assert "s03" not in stored and stored["s01"]["n"] == {"N": "99"} and stored["s02"]["g"] == {"S": "g0"}


def test_a_stream_reader_sees_no_undone_write_and_every_later_one(client: Any, settings: Settings) -> None:
    """moto as installed swaps the table for its pre-transaction copy, and a reader's
    iterators keep pointing at the discarded table's shard: it reads records of the
    writes that were undone, and never another record after them."""
    make_table(client)
    write_all(client, [item(0, s) for s in range(5)])
    chain = Chain(stream_reader(client, settings))
    chain.read()
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=refused_transaction())
    client.put_item(TableName=TABLE, Item=item(7, 7))
    assert keys_of(chain.read()) == [("INSERT", "p7", "s07")]


def item_copies(client: Any, others: int) -> int:
    """Item copies moto makes for one transaction on a table of ``others`` + 3 items."""
    from moto.dynamodb.models.dynamo_type import Item

    table = f"copies{next(_names)}"
    make_table(client, table)
    write_all(
        client, [item(0, s) for s in range(3)] + [item(1 + n // 12, n % 12) for n in range(others)], table
    )
    copies = 0
    original = Item.__deepcopy__

    def counting(self: Any, memo: Any) -> Any:
        nonlocal copies
        copies += 1
        return original(self, memo)

    Item.__deepcopy__ = counting  # type: ignore[method-assign]
    try:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "p0"}, "sk": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "p0"}, "sk": {"S": "s01"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "1"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "p0"}, "sk": {"S": "s02"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    finally:
        Item.__deepcopy__ = original  # type: ignore[method-assign]
    return copies


def test_a_transaction_copies_the_items_it_writes_not_the_tables(client: Any) -> None:
    small, large = item_copies(client, 100), item_copies(client, 1000)
    assert small == large <= 2  # the updated item, by the journal and by moto's update
    with moto_tuning.untuned():
        assert item_copies(client, 1000) > 1000


# --- streams ---------------------------------------------------------------------------------------


def shard_records(settings: Settings, table: str = TABLE) -> int:
    """Records moto's shard of ``table`` still holds."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return len(dynamodb_backends[DEFAULT_ACCOUNT_ID][settings.region].tables[table].stream_shard.items)


def test_a_shard_drops_what_every_reader_has_acknowledged(client: Any, settings: Settings) -> None:
    make_table(client)
    reader = stream_reader(client, settings)
    fast, slow = Chain(reader), Chain(reader)
    write_all(client, [item(0, s) for s in range(10)])
    assert len(fast.read()) == 10
    assert fast.read() == []  # fast has acknowledged all ten; slow has read nothing
    assert shard_records(settings) == 10
    assert len(slow.read()) == 10 and shard_records(settings) == 10  # returned, not yet acknowledged
    write_all(client, [item(1, s) for s in range(4)])
    assert keys_of(slow.read()) == [("INSERT", "p1", f"s{s:02d}") for s in range(4)]
    assert shard_records(settings) == 4  # the first ten are gone; the last four wait for fast
    assert keys_of(fast.read()) == [("INSERT", "p1", f"s{s:02d}") for s in range(4)]
    fast.read()
    slow.read()
    assert shard_records(settings) == 0
    client.put_item(TableName=TABLE, Item=item(2, 0))
    (record,) = fast.read()
    assert int(record["dynamodb"]["SequenceNumber"]) > 0 and keys_of([record]) == [("INSERT", "p2", "s00")]
    with moto_tuning.untuned():
        write_all(client, [item(3, s) for s in range(5)])
        fast.read()
        fast.read()
        assert shard_records(settings) == 6  # moto as installed keeps everything


def test_sequence_numbers_keep_increasing_across_trims(client: Any, settings: Settings) -> None:
    make_table(client)
    chain = Chain(stream_reader(client, settings))
    seen: list[int] = []
    for burst in range(4):
        write_all(client, [item(burst, s) for s in range(3)])
        seen += [int(r["dynamodb"]["SequenceNumber"]) for r in chain.read()]
    assert len(seen) == 12 and seen == sorted(set(seen))
    assert shard_records(settings) <= 3


def test_a_dropped_position_is_an_error_not_a_skip(client: Any, settings: Settings) -> None:
    make_table(client)
    reader = stream_reader(client, settings)
    chain = Chain(reader)
    stale = chain.iterator
    write_all(client, [item(0, s) for s in range(4)])
    first = chain.read()
    write_all(client, [item(1, 0)])
    assert keys_of(chain.read()) == [("INSERT", "p1", "s00")]  # acknowledges the first four: dropped
    (shard,) = reader.shards()
    with pytest.raises(ClientError, match="TrimmedDataAccessException"):
        reader.iterator(shard.shard_id, "TRIM_HORIZON", first[0]["dynamodb"]["SequenceNumber"])
    assert stale is not None
    with pytest.raises(ClientError, match="TrimmedDataAccessException"):
        reader.read(stale, 10)
    late = Chain(reader)  # TRIM_HORIZON is the oldest record still held
    assert keys_of(late.read()) == [("INSERT", "p1", "s00")]


def test_an_idle_reader_stops_holding_records_and_old_records_go(
    client: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    now = [1000.0]
    monkeypatch.setattr(moto_tuning, "_clock", lambda: now[0])
    make_table(client)
    reader = stream_reader(client, settings)
    active, idle = Chain(reader), Chain(reader)
    write_all(client, [item(0, s) for s in range(5)])
    active.read()
    active.read()
    assert shard_records(settings) == 5  # idle has not read them
    now[0] += moto_tuning.READER_IDLE_SECONDS + 1
    active.read()
    assert shard_records(settings) == 0
    with pytest.raises(ClientError, match="TrimmedDataAccessException"):
        idle.read()

    write_all(client, [item(1, s) for s in range(3)])
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][settings.region].tables[TABLE].stream_shard
    shard.items[0].record["dynamodb"]["ApproximateCreationDateTime"] -= moto_tuning.RETENTION
    assert len(active.read()) == 3  # returned; then the oldest goes for its age, acknowledged or not
    late = Chain(reader)
    assert keys_of(late.read()) == [("INSERT", "p1", "s01"), ("INSERT", "p1", "s02")]


def test_the_pump_delivers_every_record_in_order_while_the_shard_is_trimmed(
    client: Any, settings: Settings
) -> None:
    """Including when its iterator is forgotten (the janitor's expiry) between reads: it
    reopens after the last sequence number it read, which is never dropped."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    make_table(client)
    delivered: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            delivered.extend(keys_of(event["Records"]))

    stop = threading.Event()
    pump = StreamPump(
        "tuning",
        stream_reader(client, settings),
        MappingConfig(batch_size=7),
        LambdaFunction.of(handler).invoke,
        lambda *args: None,
        stop,
        poll_interval=0.02,
    )
    pump.start()
    expected: list[tuple[str, str, str]] = []
    iterators = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][settings.region].shard_iterators
    try:
        for burst in range(6):
            batch = [item(burst, s) for s in range(9)]
            write_all(client, batch)
            expected += [("INSERT", f"p{burst}", f"s{s:02d}") for s in range(9)]
            if burst % 2:
                iterators.clear()  # every iterator expires at once
            deadline = time.monotonic() + 20
            while len(delivered) < len(expected) and time.monotonic() < deadline:
                time.sleep(0.02)
        time.sleep(0.2)  # the pump's next read acknowledges the last batch
    finally:
        stop.set()
        assert pump.join(10) == []
    assert delivered == expected
    assert shard_records(settings) < 9


def test_iterator_expiry_is_still_reported_as_the_pump_expects(client: Any, settings: Settings) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    make_table(client)
    chain = Chain(stream_reader(client, settings))
    dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][settings.region].shard_iterators.clear()
    with pytest.raises(IteratorExpired):
        chain.read()


# --- objects moto keeps --------------------------------------------------------------------------


def tracked_after_traffic(client: Any, table: str) -> int:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    make_table(client, table)
    before = sum(len(cls.instances_tracked) for cls in (Item, StreamRecord, ShardIterator))
    write_all(client, [item(p, s) for p in range(5) for s in range(10)], table)
    for p in range(5):
        client.query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": f"p{p}"}},
        )
    return sum(len(cls.instances_tracked) for cls in (Item, StreamRecord, ShardIterator)) - before


def test_moto_does_not_keep_every_item_record_and_iterator_it_ever_made(client: Any) -> None:
    assert tracked_after_traffic(client, "kept") == 0
    with moto_tuning.untuned():
        assert tracked_after_traffic(client, "kept_untuned") >= 100  # 50 items, 50 records, query copies


def test_the_local_stack_s_moto_server_runs_tuned() -> None:
    from growthos_segments.devstack.motoserver import MotoServer

    with moto_tuning.untuned():
        server = MotoServer(port=0)
        server.start()
        try:
            assert moto_tuning.applied() == frozenset(moto_tuning.PATCHES)
        finally:
            assert server.stop()
