"""agentgate.chat.metrics.measure_store_cost: the request units README "Store cost per turn" and
bench/turn_cost.py state, estimated as DynamoDB bills on demand (4 KB per read unit, half of one
eventually consistent; 1 KB per write unit)."""

from __future__ import annotations

import pytest

from agentgate.chat.metrics import item_size, measure_store_cost
from agentgate.store import bots


def test_item_size_counts_names_and_values():
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1


def test_reads_and_writes_are_priced_by_size_and_consistency(aws):
    prompt = "x" * 10_000
    bot = bots.create_bot("alice", {"name": "big", "prompt": prompt}, [])
    with measure_store_cost() as cost:
        bots.publish_bot("alice", bot.bot_id)  # GetItem (consistent) + a transaction
    ops = dict(cost.by_operation)
    assert ops == {"GetItem": 1, "TransactWriteItems": 1}
    (get,) = [r for r in cost.rows if r[0] == "GetItem"]
    assert get[2] == 3.0  # a ~10 KB item read consistently: 3 units
    (tx,) = [r for r in cost.rows if r[0] == "TransactWriteItems"]
    assert tx[3] >= 2 * (20 + 10)  # bot item ~20 KB + online item ~10 KB, twice in a transaction

    with measure_store_cost() as cost:
        assert bots.resolve_online_bot("alice", bot.bot_id).prompt == prompt
    assert cost.rows == [("GetItem", cost.rows[0][1], 1.5, 0.0)]  # ~10 KB eventually consistent
    with measure_store_cost() as cost:
        assert bots.resolve_online_bot("alice", "99") is None  # nothing there: still the minimum
    assert [r[2] for r in cost.rows] == [0.5, 0.5]  # no online item, no bot item: two misses


@pytest.mark.parametrize("size, units", [(100, 1.0), (1024, 1.0), (1025, 2.0), (4000, 4.0)])
def test_a_put_costs_a_unit_per_kilobyte(aws, size, units):
    from agentgate.chat.metrics import StoreCost

    cost = StoreCost()
    cost.charge("PutItem", "t", {"Item": {"k": {"S": "x" * (size - 1)}}}, {})
    assert cost.write_units == units
