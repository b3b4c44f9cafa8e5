"""The embedded store of `agentgate dev`: transactions that copy only what they touch (moto_tx),
and a store process (store_process + persist) whose tables and files survive a restart, whatever
the tables are."""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from agentgate.local import embedded, moto_tx

REGION = "eu-west-3"  # the unit tests' shared moto backend lives in us-east-1: stay out of its way


@pytest.fixture
def deep_copies(monkeypatch):
    """Every object moto (or anyone) deep-copies while the test runs."""
    moto_tx.install()
    copied: list[object] = []
    real = copy.deepcopy

    def counting(obj, *args, **kwargs):
        copied.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", counting)
    return copied


def _tables_in(copied) -> list:
    from moto.dynamodb.models.table import Table

    return [obj for obj in copied if isinstance(obj, Table)]


@pytest.fixture
def ddb(_aws_session):
    client = boto3.client("dynamodb", region_name=REGION)
    name = "tx-test"
    if name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for i in range(300):
        client.put_item(TableName=name, Item={"pk": {"S": f"filler-{i}"}, "blob": {"S": "x" * 500}})
    return client, name


def test_a_transaction_copies_no_table_only_the_item_it_updates(ddb, deep_copies):
    client, name = ddb
    client.put_item(TableName=name, Item={"pk": {"S": "bot"}, "revision": {"N": "1"}})
    items = [{"Update": {"TableName": name, "Key": {"pk": {"S": "bot"}}, "UpdateExpression": "SET revision = :r",
                         "ConditionExpression": "revision = :old",
                         "ExpressionAttributeValues": {":r": {"N": "2"}, ":old": {"N": "1"}}}}]
    items += [{"Put": {"TableName": name, "Item": {"pk": {"S": f"alias#{i}"}, "bot": {"S": "bot"}},
                       "ConditionExpression": "attribute_not_exists(pk)"}} for i in range(10)]
    client.transact_write_items(TransactItems=items)

    assert _tables_in(deep_copies) == []
    # what is copied is bounded by the transaction (moto's update copies its item too), not the table's 301
    assert 1 <= len([obj for obj in deep_copies if type(obj).__name__ == "Item"]) <= len(items)
    assert client.get_item(TableName=name, Key={"pk": {"S": "bot"}})["Item"]["revision"] == {"N": "2"}
    assert client.scan(TableName=name, Select="COUNT")["Count"] == 311


def test_bot_writes_with_ten_aliases_copy_no_table(aws, deep_copies):
    from agentgate.store import bots

    bot = bots.create_bot("owner-a", {"name": "many names", "model": "echo"},
                          aliases=[f"name-{i}" for i in range(10)])
    for round_ in range(3):
        assert bots.publish_bot("owner-a", bot.bot_id) is not None
        assert bots.update_bot("owner-a", bot.bot_id, {"description": f"round {round_}"}) is not None
    assert _tables_in(deep_copies) == []
    assert bots.resolve_online_bot("owner-a", "name-7").bot_id == bot.bot_id


def test_a_failed_condition_writes_nothing(ddb, deep_copies):
    client, name = ddb
    client.put_item(TableName=name, Item={"pk": {"S": "taken"}})
    with pytest.raises(ClientError) as info:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "new-one"}}}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": "taken"}, "v": {"S": "overwritten"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "ConditionalCheckFailed" in str(info.value)
    assert "Item" not in client.get_item(TableName=name, Key={"pk": {"S": "new-one"}})
    assert "v" not in client.get_item(TableName=name, Key={"pk": {"S": "taken"}})["Item"]
    assert _tables_in(deep_copies) == []


def test_a_failure_while_applying_rolls_back_what_was_applied(ddb, deep_copies):
    client, name = ddb
    client.put_item(TableName=name, Item={"pk": {"S": "kept"}, "n": {"N": "1"}, "s": {"S": "text"}})
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "brand-new"}}}},
            {"Update": {"TableName": name, "Key": {"pk": {"S": "filler-1"}}, "UpdateExpression": "SET blob = :b",
                        "ExpressionAttributeValues": {":b": {"S": "changed"}}}},
            # adding a number to a string fails only when moto applies it
            {"Update": {"TableName": name, "Key": {"pk": {"S": "kept"}}, "UpdateExpression": "SET n = s + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    assert "Item" not in client.get_item(TableName=name, Key={"pk": {"S": "brand-new"}})
    assert client.get_item(TableName=name, Key={"pk": {"S": "filler-1"}})["Item"]["blob"] == {"S": "x" * 500}
    assert client.get_item(TableName=name, Key={"pk": {"S": "kept"}})["Item"]["n"] == {"N": "1"}
    assert _tables_in(deep_copies) == []


def test_one_item_twice_in_a_transaction_is_refused(ddb):
    client, name = ddb
    put = {"Put": {"TableName": name, "Item": {"pk": {"S": "twice"}}}}
    with pytest.raises(ClientError) as info:
        client.transact_write_items(TransactItems=[put, put])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in client.get_item(TableName=name, Key={"pk": {"S": "twice"}})


# ------------------------------------------------------------------------ the store process


def _clients(endpoint: str):
    kwargs = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x")
    return boto3.client("dynamodb", **kwargs), boto3.client("s3", **kwargs)


def _fill(endpoint: str) -> None:
    """Tables agentgate knows nothing about (any model another module registers is one of these)."""
    ddb, s3 = _clients(endpoint)
    ddb.create_table(
        TableName="someones-workflow-runs", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}, {"AttributeName": "step", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"},
                              {"AttributeName": "step", "AttributeType": "N"},
                              {"AttributeName": "owner_id", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_owner", "KeySchema": [{"AttributeName": "owner_id", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    ddb.update_time_to_live(TableName="someones-workflow-runs",
                            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    for step in range(5):
        ddb.put_item(TableName="someones-workflow-runs",
                     Item={"run_id": {"S": "run-1"}, "step": {"N": str(step)}, "owner_id": {"S": "alice"},
                           "state": {"M": {"done": {"BOOL": False}, "list": {"L": [{"N": "1"}, {"B": b"\x00\x01"}]}}}})
    ddb.update_item(TableName="someones-workflow-runs", Key={"run_id": {"S": "run-1"}, "step": {"N": "2"}},
                    UpdateExpression="SET #s.done = :t", ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={":t": {"BOOL": True}})
    ddb.delete_item(TableName="someones-workflow-runs", Key={"run_id": {"S": "run-1"}, "step": {"N": "4"}})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "someones-workflow-runs",
                 "Item": {"run_id": {"S": "run-2"}, "step": {"N": "0"}, "owner_id": {"S": "bob"}}}}])
    ddb.batch_write_item(RequestItems={"someones-workflow-runs": [
        {"PutRequest": {"Item": {"run_id": {"S": "run-3"}, "step": {"N": "0"}, "owner_id": {"S": "bob"}}}},
        {"DeleteRequest": {"Key": {"run_id": {"S": "run-1"}, "step": {"N": "3"}}}}]})
    ddb.create_table(TableName="dropped-later", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    ddb.put_item(TableName="dropped-later", Item={"k": {"S": "gone"}})
    ddb.delete_table(TableName="dropped-later")
    s3.create_bucket(Bucket="some-files")
    s3.put_object(Bucket="some-files", Key="alice/1/notes.md", Body=b"# notes\n", ContentType="text/markdown",
                  Metadata={"origin": "test"})
    s3.put_object(Bucket="some-files", Key="alice/2/removed.txt", Body=b"bye")
    s3.delete_object(Bucket="some-files", Key="alice/2/removed.txt")


def _check(endpoint: str) -> None:
    ddb, s3 = _clients(endpoint)
    assert sorted(ddb.list_tables()["TableNames"]) == ["someones-workflow-runs"]
    rows = ddb.query(TableName="someones-workflow-runs", KeyConditionExpression="run_id = :r",
                     ExpressionAttributeValues={":r": {"S": "run-1"}})["Items"]
    assert [int(r["step"]["N"]) for r in rows] == [0, 1, 2]
    assert rows[2]["state"]["M"]["done"] == {"BOOL": True}
    assert rows[0]["state"]["M"]["list"]["L"][1] == {"B": b"\x00\x01"}
    by_bob = ddb.query(TableName="someones-workflow-runs", IndexName="by_owner",
                       KeyConditionExpression="owner_id = :o", ExpressionAttributeValues={":o": {"S": "bob"}})
    assert sorted(r["run_id"]["S"] for r in by_bob["Items"]) == ["run-2", "run-3"]
    ttl = ddb.describe_time_to_live(TableName="someones-workflow-runs")["TimeToLiveDescription"]
    assert ttl.get("AttributeName") == "expires_at"
    got = s3.get_object(Bucket="some-files", Key="alice/1/notes.md")
    assert got["Body"].read() == b"# notes\n"
    assert got["ContentType"] == "text/markdown" and got["Metadata"] == {"origin": "test"}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="some-files")["Contents"]] == ["alice/1/notes.md"]


def test_the_store_keeps_any_table_and_file_across_a_restart_on_the_same_port(tmp_path):
    first = embedded.start_store(tmp_path)
    try:
        _fill(first.endpoint)
    finally:
        assert first.stop() == 0
    second = embedded.start_store(tmp_path)
    try:
        assert second.endpoint == first.endpoint  # presigned URLs name it
        assert second.info["restored"] == {"tables": 1, "items": 5, "buckets": 1, "objects": 1}
        _check(second.endpoint)
    finally:
        second.stop()


def test_the_store_writes_everything_when_its_gateway_dies(tmp_path):
    """The gateway holds the store's stdin: when it dies (even by SIGKILL) the pipe closes and the
    store saves what is left before it exits."""
    first = embedded.start_store(tmp_path)
    _fill(first.endpoint)
    first.proc.stdin.close()  # what the kernel does when the gateway dies
    assert first.proc.wait(timeout=30) == 0
    second = embedded.start_store(tmp_path)
    try:
        _check(second.endpoint)
    finally:
        second.stop()


def test_a_store_without_a_data_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = embedded.start_store(None)
    try:
        _fill(store.endpoint)
        assert store.info["data_dir"] is None
    finally:
        store.stop()
    assert list(tmp_path.iterdir()) == []


def test_one_store_per_data_dir(tmp_path, monkeypatch):
    first = embedded.start_store(tmp_path)
    try:
        from agentgate.local import store_process

        with pytest.raises(SystemExit, match="in use by another agentgate store"):
            monkeypatch.setattr(store_process, "LOCK_WAIT_S", 0.2)
            store_process._lock_data_dir(tmp_path)
    finally:
        first.stop()


def test_a_taken_port_moves_the_store_and_says_so(tmp_path, capfd):
    import socket

    first = embedded.start_store(tmp_path)
    port = first.info["port"]
    first.stop()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        second = embedded.start_store(tmp_path)
        try:
            assert second.info["port"] != port
            assert "Presigned file URLs made before this restart" in capfd.readouterr().err
        finally:
            second.stop()


def test_the_port_file_names_the_port(tmp_path):
    store = embedded.start_store(tmp_path)
    try:
        assert json.loads((tmp_path / "store.json").read_text())["port"] == store.info["port"]
    finally:
        store.stop()


def test_a_kept_table_gets_the_indexes_its_model_declares_now(_aws_session):
    """A data dir outlives code: a model that gained an index must find it on the kept table."""
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
    from pynamodb.models import Model

    class ByOwner(GlobalSecondaryIndex):
        class Meta:
            index_name = "by_owner"
            projection = AllProjection()

        owner_id = UnicodeAttribute(hash_key=True)

    class Run(Model):
        class Meta:
            table_name = "kept-runs"
            region = REGION

        run_id = UnicodeAttribute(hash_key=True)
        owner_id = UnicodeAttribute()
        by_owner = ByOwner()

    client = boto3.client("dynamodb", region_name=REGION)
    if "kept-runs" in client.list_tables()["TableNames"]:
        client.delete_table(TableName="kept-runs")
    client.create_table(TableName="kept-runs", BillingMode="PAY_PER_REQUEST",  # as an older version made it
                        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}])
    client.put_item(TableName="kept-runs", Item={"run_id": {"S": "r1"}, "owner_id": {"S": "alice"}})

    assert embedded.add_missing_indexes([Run], client) == ["kept-runs.by_owner"]
    assert [r.run_id for r in Run.by_owner.query("alice")] == ["r1"]
    assert embedded.add_missing_indexes([Run], client) == []  # once
