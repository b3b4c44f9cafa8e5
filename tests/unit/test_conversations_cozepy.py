"""cozepy's conversations and conversations.messages clients, unchanged, against the conversations app.

cozepy takes an httpx client. Starlette's TestClient is built on `httpx2`, so a small httpx transport
forwards cozepy's requests to a TestClient bound to the app. cozepy sends requests it built itself
(no client default headers): a wrapper around the app adds the principal header.
"""

from __future__ import annotations

import pytest
from cozepy import Coze, CozeAPIError, Message, MessageContentType, MessageRole

import agentgate.api.conversations as conv_api
from agentgate.api.conversations import app
from cozepy_asgi import coze_for

BOT = "7000000000000000001"


@pytest.fixture
def coze(aws, monkeypatch, as_owner):
    monkeypatch.setattr(conv_api, "bot_is_published", lambda owner, bot: True)

    def make(owner: str = "alice", scopes: str = "chat") -> Coze:
        return coze_for(app, as_owner(owner, scopes))

    return make


def test_conversation_lifecycle_with_cozepy(coze):
    client = coze()
    conv = client.conversations.create(bot_id=BOT, name="trip", meta_data={"k": "v"},
                                       messages=[Message.build_user_question_text("hello"),
                                                 Message.build_assistant_answer("hi!")])
    assert conv.id and conv.meta_data == {"k": "v"} and conv.last_section_id and conv.name == "trip"
    assert client.conversations.retrieve(conversation_id=conv.id).id == conv.id

    others = [client.conversations.create(bot_id=BOT).id for _ in range(3)]
    listed = [c.id for c in client.conversations.list(bot_id=BOT, page_size=2)]
    assert listed == others[::-1] + [conv.id]

    assert client.conversations.update(conversation_id=conv.id, name="renamed").name == "renamed"

    section = client.conversations.clear(conversation_id=conv.id)
    assert section.conversation_id == conv.id and section.id != conv.last_section_id
    assert client.conversations.retrieve(conversation_id=conv.id).last_section_id == section.id

    client.conversations.delete(conversation_id=conv.id)
    with pytest.raises(CozeAPIError) as err:
        client.conversations.retrieve(conversation_id=conv.id)
    assert err.value.code == 404 and err.value.logid


def test_messages_with_cozepy(coze):
    client = coze()
    conv = client.conversations.create(bot_id=BOT)
    messages = client.conversations.messages
    created = [messages.create(conversation_id=conv.id, role=MessageRole.USER, content=f"m{i}",
                               content_type=MessageContentType.TEXT, meta_data={"i": str(i)}) for i in range(7)]
    assert created[0].conversation_id == conv.id and created[0].meta_data == {"i": "0"}

    got = messages.retrieve(conversation_id=conv.id, message_id=created[3].id)
    assert got.content == "m3" and got.role == MessageRole.USER

    changed = messages.update(conversation_id=conv.id, message_id=created[3].id, content="edited")
    assert changed.content == "edited" and changed.id == created[3].id

    deleted = messages.delete(conversation_id=conv.id, message_id=created[4].id)
    assert deleted.id == created[4].id

    # cozepy's pager walks with after_id=last_id until has_more is false.
    pager = messages.list(conversation_id=conv.id, limit=2)
    walked = [m.id for m in pager]
    expected = [m.id for m in created if m.id != created[4].id][::-1]
    assert walked == expected
    asc = [m.id for m in messages.list(conversation_id=conv.id, order="asc", limit=3)]
    assert asc == expected[::-1]

    with pytest.raises(CozeAPIError) as err:
        messages.retrieve(conversation_id=conv.id, message_id=created[4].id)
    assert err.value.code == 404


def test_cozepy_sees_other_owners_as_missing(coze):
    conv = coze("alice").conversations.create(bot_id=BOT)
    with pytest.raises(CozeAPIError) as err:
        coze("bob").conversations.retrieve(conversation_id=conv.id)
    assert err.value.code == 404
    with pytest.raises(CozeAPIError) as err:
        coze("alice", "read").conversations.create(bot_id=BOT)
    assert err.value.code == 403
