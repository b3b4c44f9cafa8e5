"""The `cozepy` SDK against the running local gateway: bots, chat v3 (stream, create, poll,
cancel), conversations and their messages, files, and owner isolation, as a Coze user calls them.

Note: the test gateway runs with AGENTGATE_ECHO_DELAY_MS=0, which also makes "echo/slow"
instant; a chat that must still be running when it is canceled therefore uses the stub
upstream's `__slow__` trigger (50 ms between deltas) or "echo/stall" (one delta, then silence).
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from cozepy import (
    BotModelInfo,
    BotPromptInfo,
    ChatEventType,
    ChatStatus,
    Coze,
    CozeAPIError,
    Message,
    MessageContentType,
    MessageRole,
    MessageType,
    TokenAuth,
)
from cozepy.bots import PublishStatus

pytestmark = pytest.mark.integration

OWNER = "clients-cozepy"
OTHER_OWNER = "clients-cozepy-other"
PROMPT = "You answer tests."
SPACE = "0"  # one space per owner: cozepy insists on sending one


def _coze(gateway, key: str) -> Coze:
    return Coze(auth=TokenAuth(key), base_url=gateway.base_url)


def _q(text: str) -> Message:
    return Message.build_user_question_text(text)


def _expected(text: str, prompt: str = PROMPT) -> str:
    return f'Echo: {text} | system: "{prompt}"' if prompt else f"Echo: {text}"


def _new_bot(coze: Coze, name: str, model: str, prompt: str = PROMPT) -> str:
    bot = coze.bots.create(space_id=SPACE, name=name, prompt_info=BotPromptInfo(prompt=prompt),
                           model_info_config=BotModelInfo(model_id=model))
    coze.bots.publish(bot_id=bot.bot_id)
    return bot.bot_id


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.create_key(OWNER, ("admin",))


@pytest.fixture(scope="module")
def coze(gateway, key) -> Coze:
    return _coze(gateway, key)


@pytest.fixture(scope="module")
def bot(coze) -> str:
    return _new_bot(coze, "coze echo", "echo")


@pytest.fixture(scope="module")
def stub_bot(coze) -> str:
    return _new_bot(coze, "coze stub", "stub/stub", prompt="")


# ------------------------------------------------------------------------------------- bots


def test_bot_lifecycle(coze):
    created = coze.bots.create(space_id=SPACE, name="lifecycle", description="first",
                               prompt_info=BotPromptInfo(prompt="Be brief."),
                               model_info_config=BotModelInfo(model_id="echo", temperature=0.5))
    bot_id = created.bot_id
    assert bot_id.isdigit()

    # a draft: not online yet
    with pytest.raises(CozeAPIError) as info:
        coze.bots.retrieve(bot_id=bot_id)
    assert info.value.code == 404 and "not published" in info.value.msg
    assert info.value.logid
    draft = coze.bots.retrieve(bot_id=bot_id, is_published=False, use_api_version=2)
    assert draft.name == "lifecycle" and draft.prompt_info.prompt == "Be brief."
    with pytest.raises(CozeAPIError) as info:
        coze.chat.create(bot_id=bot_id, user_id="u1", additional_messages=[_q("hi")])
    assert info.value.code == 404

    coze.bots.update(bot_id=bot_id, name="lifecycle renamed", prompt_info=BotPromptInfo(prompt="Be kind."))
    published = coze.bots.publish(bot_id=bot_id)
    assert published.bot_id == bot_id and published.name == "lifecycle renamed"

    for version in (1, 2):
        online = coze.bots.retrieve(bot_id=bot_id, use_api_version=version)
        assert online.bot_id == bot_id
        assert online.name == "lifecycle renamed" and online.description == "first"
        assert online.prompt_info.prompt == "Be kind."
        assert online.model_info.model_id == "echo" and online.model_info.temperature == 0.5
        assert online.owner_user_id == OWNER

    # the online version is frozen: a later edit changes the draft only, until published
    coze.bots.update(bot_id=bot_id, name="draft name")
    assert coze.bots.retrieve(bot_id=bot_id).name == "lifecycle renamed"
    assert coze.bots.retrieve(bot_id=bot_id, is_published=False, use_api_version=2).name == "draft name"
    chat = coze.chat.create_and_poll(bot_id=bot_id, user_id="u1", additional_messages=[_q("hello")])
    answers = [m.content for m in chat.messages if m.type == MessageType.ANSWER]
    assert answers == [_expected("hello", "Be kind.")]

    listed_v1 = {b.bot_id: b for b in coze.bots.list(space_id=SPACE)}
    assert bot_id in listed_v1 and listed_v1[bot_id].name == "lifecycle renamed"
    assert listed_v1[bot_id].is_published is True
    listed_v2 = {b.id: b for b in coze.bots.list(space_id=SPACE, use_api_version=2)}
    assert bot_id in listed_v2 and listed_v2[bot_id].is_published is True
    assert listed_v2[bot_id].owner_user_id == OWNER
    all_v2 = {b.id: b for b in coze.bots.list(space_id=SPACE, use_api_version=2, publish_status=PublishStatus.ALL)}
    assert all_v2[bot_id].name == "draft name"  # the latest draft

    coze.bots.unpublish(bot_id=bot_id, connector_id="1024", unpublish_reason="test")
    with pytest.raises(CozeAPIError) as info:
        coze.bots.retrieve(bot_id=bot_id)
    assert info.value.code == 404
    with pytest.raises(CozeAPIError) as info:
        coze.chat.create(bot_id=bot_id, user_id="u1", additional_messages=[_q("hi")])
    assert info.value.code == 404
    assert bot_id not in {b.bot_id for b in coze.bots.list(space_id=SPACE)}
    assert bot_id not in {b.id for b in coze.bots.list(space_id=SPACE, use_api_version=2)}
    unpublished = {b.id for b in coze.bots.list(space_id=SPACE, use_api_version=2,
                                                 publish_status=PublishStatus.UNPUBLISHED_DRAFT)}
    assert bot_id in unpublished


def test_bot_list_pages(coze):
    ids = [_new_bot(coze, f"paged {i}", "echo") for i in range(3)]
    paged = coze.bots.list(space_id=SPACE, use_api_version=2, page_size=2)
    assert len(paged.items) == 2
    every = [b.id for b in coze.bots.list(space_id=SPACE, use_api_version=2, page_size=2)]
    assert len(every) == len(set(every)) and set(ids) <= set(every)
    every_v1 = [b.bot_id for b in coze.bots.list(space_id=SPACE, page_size=2)]
    assert set(ids) <= set(every_v1) and len(every_v1) == len(set(every_v1))


# ------------------------------------------------------------------------------------- chat


def test_chat_stream_event_sequence(coze, bot):
    events = list(coze.chat.stream(bot_id=bot, user_id="u1", additional_messages=[_q("tell me a story")]))
    kinds = [e.event for e in events]
    assert kinds[0] == ChatEventType.CONVERSATION_CHAT_CREATED
    assert kinds[1] == ChatEventType.CONVERSATION_CHAT_IN_PROGRESS
    deltas = [e for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA]
    assert len(deltas) > 3
    assert kinds[2:2 + len(deltas)] == [ChatEventType.CONVERSATION_MESSAGE_DELTA] * len(deltas)
    assert kinds[2 + len(deltas):] == [ChatEventType.CONVERSATION_MESSAGE_COMPLETED,
                                       ChatEventType.CONVERSATION_CHAT_COMPLETED]

    created, progress, completed_msg, completed = events[0], events[1], events[-2], events[-1]
    chat_id, conversation_id = created.chat.id, created.chat.conversation_id
    assert created.chat.status == ChatStatus.CREATED and progress.chat.status == ChatStatus.IN_PROGRESS
    assert created.chat.bot_id == bot
    text = "".join(d.message.content for d in deltas)
    assert text == _expected("tell me a story")
    assert completed_msg.message.content == text
    assert completed_msg.message.role == MessageRole.ASSISTANT and completed_msg.message.type == MessageType.ANSWER
    for d in deltas + [completed_msg]:
        assert d.message.chat_id == chat_id and d.message.conversation_id == conversation_id
    assert len({d.message.id for d in deltas + [completed_msg]}) == 1
    chat = completed.chat
    assert chat.id == chat_id and chat.status == ChatStatus.COMPLETED and chat.completed_at
    assert chat.usage.output_count == len(text.split())
    assert chat.usage.input_count == len(PROMPT.split()) + 4
    assert chat.usage.token_count == chat.usage.input_count + chat.usage.output_count

    # what the stream said is what is stored
    retrieved = coze.chat.retrieve(conversation_id=conversation_id, chat_id=chat_id)
    assert retrieved.status == ChatStatus.COMPLETED
    assert retrieved.usage.token_count == chat.usage.token_count
    stored = coze.chat.messages.list(conversation_id=conversation_id, chat_id=chat_id)
    assert [(m.type, m.content) for m in stored] == [(MessageType.ANSWER, text)]  # besides the query
    in_conversation = list(coze.conversations.messages.list(conversation_id=conversation_id, order="asc"))
    assert [(m.type, m.content) for m in in_conversation] == [(MessageType.QUESTION, "tell me a story"),
                                                              (MessageType.ANSWER, text)]


def test_chat_create_and_retrieve(coze, bot):
    # Like Coze: in_progress at once; the turn completes in the background.
    chat = coze.chat.create(bot_id=bot, user_id="u2", additional_messages=[_q("non stream")],
                            meta_data={"k": "v"})
    assert chat.status == ChatStatus.IN_PROGRESS
    assert chat.bot_id == bot and chat.meta_data == {"k": "v"}
    for _ in range(200):
        again = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
        if again.status != ChatStatus.IN_PROGRESS:
            break
        time.sleep(0.02)
    assert again.id == chat.id and again.status == ChatStatus.COMPLETED and again.meta_data == {"k": "v"}
    assert again.usage and again.usage.output_count == len(_expected("non stream").split())
    messages = coze.chat.messages.list(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert [m.content for m in messages if m.type == MessageType.ANSWER] == [_expected("non stream")]


def test_chat_create_and_poll(coze, bot):
    polled = coze.chat.create_and_poll(bot_id=bot, user_id="u3", additional_messages=[_q("poll me")])
    assert polled.chat.status == ChatStatus.COMPLETED
    answers = [m for m in polled.messages if m.type == MessageType.ANSWER]
    assert [a.content for a in answers] == [_expected("poll me")]
    assert answers[0].role == MessageRole.ASSISTANT and answers[0].chat_id == polled.chat.id


def test_conversation_continues_with_memory(coze, bot):
    first = coze.chat.create_and_poll(bot_id=bot, user_id="u4", additional_messages=[_q("my name is Ada")])
    cid = first.chat.conversation_id
    streamed = list(coze.chat.stream(bot_id=bot, user_id="u4", conversation_id=cid,
                                     additional_messages=[_q("what is my name?")]))
    assert streamed[0].chat.conversation_id == cid
    answer = streamed[-2].message.content
    assert answer.startswith("Echo: what is my name?")
    assert 'memory: 2 earlier messages, first: "my name is Ada"' in answer
    third = coze.chat.create_and_poll(bot_id=bot, user_id="u4", conversation_id=cid,
                                      additional_messages=[_q("and again?")])
    assert 'memory: 4 earlier messages, first: "my name is Ada"' in \
        [m.content for m in third.messages if m.type == MessageType.ANSWER][0]
    # a new chat without conversation_id starts afresh
    fresh = coze.chat.create_and_poll(bot_id=bot, user_id="u4", additional_messages=[_q("who am I?")])
    assert fresh.chat.conversation_id != cid
    assert [m.content for m in fresh.messages if m.type == MessageType.ANSWER] == [_expected("who am I?")]


def test_unknown_conversation_is_404(coze, bot):
    with pytest.raises(CozeAPIError) as info:
        coze.chat.create(bot_id=bot, user_id="u", conversation_id="123456789",
                         additional_messages=[_q("hi")])
    assert info.value.code == 404


# ------------------------------------------------------------------------------------- conversations


def test_conversations_and_clear(coze, bot):
    conv = coze.conversations.create(bot_id=bot, messages=[_q("seeded question"),
                                                           Message.build_assistant_answer("seeded answer")],
                                     meta_data={"topic": "tests"})
    assert conv.id.isdigit() and conv.meta_data == {"topic": "tests"}
    got = coze.conversations.retrieve(conversation_id=conv.id)
    assert got.id == conv.id and got.last_section_id == conv.last_section_id
    assert conv.id in [c.id for c in coze.conversations.list(bot_id=bot)]

    answer = coze.chat.create_and_poll(bot_id=bot, user_id="u5", conversation_id=conv.id,
                                       additional_messages=[_q("do you remember?")])
    text = [m.content for m in answer.messages if m.type == MessageType.ANSWER][0]
    assert 'memory: 2 earlier messages, first: "seeded question"' in text

    section = coze.conversations.clear(conversation_id=conv.id)
    assert section.conversation_id == conv.id and section.id != conv.last_section_id
    assert coze.conversations.retrieve(conversation_id=conv.id).last_section_id == section.id

    after = coze.chat.create_and_poll(bot_id=bot, user_id="u5", conversation_id=conv.id,
                                      additional_messages=[_q("still there?")])
    assert [m.content for m in after.messages if m.type == MessageType.ANSWER] == [_expected("still there?")]

    renamed = coze.conversations.update(conversation_id=conv.id, name="renamed")
    assert renamed.name == "renamed"
    coze.conversations.delete(conversation_id=conv.id)
    with pytest.raises(CozeAPIError) as info:
        coze.conversations.retrieve(conversation_id=conv.id)
    assert info.value.code == 404


def test_conversation_messages_crud(coze, bot):
    conv = coze.conversations.create(bot_id=bot)
    msgs = coze.conversations.messages
    first = msgs.create(conversation_id=conv.id, role=MessageRole.USER, content="first",
                        content_type=MessageContentType.TEXT, meta_data={"n": "1"})
    assert first.id and first.content == "first" and first.type == MessageType.QUESTION
    assert first.conversation_id == conv.id and first.meta_data == {"n": "1"}
    second = msgs.create(conversation_id=conv.id, role=MessageRole.ASSISTANT, content="second",
                         content_type=MessageContentType.TEXT)
    assert second.type == MessageType.ANSWER

    listed = msgs.list(conversation_id=conv.id)
    assert [m.content for m in listed] == ["second", "first"]  # newest first by default
    assert [m.content for m in msgs.list(conversation_id=conv.id, order="asc")] == ["first", "second"]

    got = msgs.retrieve(conversation_id=conv.id, message_id=first.id)
    assert got.id == first.id and got.content == "first" and got.role == MessageRole.USER

    updated = msgs.update(conversation_id=conv.id, message_id=first.id, content="first, edited",
                          meta_data={"n": "2"})
    assert updated.id == first.id and updated.content == "first, edited" and updated.meta_data == {"n": "2"}
    assert msgs.retrieve(conversation_id=conv.id, message_id=first.id).content == "first, edited"

    # the edited history is what the bot sees
    chat = coze.chat.create_and_poll(bot_id=bot, user_id="u6", conversation_id=conv.id,
                                     additional_messages=[_q("recall")])
    text = [m.content for m in chat.messages if m.type == MessageType.ANSWER][0]
    assert 'memory: 2 earlier messages, first: "first, edited"' in text

    deleted = msgs.delete(conversation_id=conv.id, message_id=second.id)
    assert deleted.id == second.id
    with pytest.raises(CozeAPIError) as info:
        msgs.retrieve(conversation_id=conv.id, message_id=second.id)
    assert info.value.code == 404
    assert second.id not in [m.id for m in msgs.list(conversation_id=conv.id)]


def test_message_list_pages(coze, bot):
    conv = coze.conversations.create(bot_id=bot)
    for i in range(5):
        coze.conversations.messages.create(conversation_id=conv.id, role=MessageRole.USER, content=f"m{i}",
                                           content_type=MessageContentType.TEXT)
    page = coze.conversations.messages.list(conversation_id=conv.id, limit=2)
    assert len(page.items) == 2 and page.has_more
    walked = [m.content for m in coze.conversations.messages.list(conversation_id=conv.id, limit=2)]
    assert walked == ["m4", "m3", "m2", "m1", "m0"]


# ------------------------------------------------------------------------------------- files


def test_files_upload_and_retrieve(coze, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("agentgate notes\nline two\n")
    uploaded = coze.files.upload(file=path)
    assert uploaded.id and uploaded.file_name == "notes.txt"
    assert uploaded.bytes == path.stat().st_size and uploaded.created_at
    got = coze.files.retrieve(file_id=uploaded.id)
    assert got.id == uploaded.id and got.file_name == "notes.txt" and got.bytes == uploaded.bytes
    from_bytes = coze.files.upload(file=("raw.txt", b"raw bytes"))
    assert from_bytes.id != uploaded.id and from_bytes.bytes == 9


# ------------------------------------------------------------------------------------- cancel


def _stub_stats(stub_upstream: str) -> dict:
    return httpx.get(stub_upstream[: -len("/v1")] + "/_stats", timeout=10).json()


@pytest.mark.parametrize("kind", ["stub-slow", "echo-stall"])
def test_cancel_a_running_stream(coze, bot, stub_bot, stub_upstream, kind):
    if kind == "stub-slow":
        target = stub_bot
        question = "__slow__ " + " ".join(f"word{i}" for i in range(200))  # ~10 s of deltas
    else:
        target = _new_bot(coze, "coze stall", "echo/stall", prompt="")
        question = "one two three"
    disconnected_before = _stub_stats(stub_upstream)["disconnected"]

    events: list = []
    first_delta = threading.Event()
    errors: list[BaseException] = []
    ended_at: list[float] = []

    def consume():
        try:
            for event in coze.chat.stream(bot_id=target, user_id="u7", additional_messages=[_q(question)]):
                events.append(event)
                if event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA:
                    first_delta.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            ended_at.append(time.monotonic())
            first_delta.set()

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    assert first_delta.wait(30), "no delta arrived"
    assert not errors, errors
    chat = events[0].chat
    canceled_at = time.monotonic()
    answer = coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert answer.id == chat.id
    worker.join(10)
    assert not worker.is_alive(), "the stream did not end after the cancel"
    assert not errors, errors
    assert ended_at[0] - canceled_at < 5

    kinds = [e.event for e in events]
    assert kinds[-1] == ChatEventType.CONVERSATION_CHAT_FAILED  # Coze reports a canceled chat this way
    assert events[-1].chat.status == ChatStatus.CANCELED
    streamed = "".join(e.message.content for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA)
    assert streamed

    retrieved = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert retrieved.status == ChatStatus.CANCELED
    stored = list(coze.conversations.messages.list(conversation_id=chat.conversation_id, order="asc"))
    assert [m.type for m in stored] == [MessageType.QUESTION, MessageType.ANSWER]
    partial = stored[1].content
    assert partial.startswith(streamed)  # what the client saw, and perhaps a few deltas more
    if kind == "stub-slow":
        full = f"Stub reply to 1 messages: [user] {question}"
        assert full.startswith(partial) and len(partial) < len(full)
        # the upstream model was hung up on, not left generating
        deadline = time.monotonic() + 5
        while _stub_stats(stub_upstream)["disconnected"] <= disconnected_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stub_stats(stub_upstream)["disconnected"] > disconnected_before
    else:
        assert partial == "Echo: "

    # canceling again changes nothing: it stays canceled
    assert coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id).status == ChatStatus.CANCELED
    assert coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).status == ChatStatus.CANCELED
    # and the conversation goes on
    more = coze.chat.create_and_poll(bot_id=bot, user_id="u7", additional_messages=[_q("after cancel")])
    assert more.chat.status == ChatStatus.COMPLETED


def test_cancel_a_chat_that_keeps_no_record(coze, stub_bot):
    """auto_save_history=False: nothing is stored, yet the running stream can be canceled."""
    question = "__slow__ " + " ".join(f"w{i}" for i in range(200))
    events: list = []
    first_delta = threading.Event()

    def consume():
        try:
            for event in coze.chat.stream(bot_id=stub_bot, user_id="u15", auto_save_history=False,
                                          additional_messages=[_q(question)]):
                events.append(event)
                if event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA:
                    first_delta.set()
        finally:
            first_delta.set()

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    assert first_delta.wait(30) and events
    chat = events[0].chat
    assert coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id).status == ChatStatus.CANCELED
    worker.join(10)
    assert not worker.is_alive()
    assert events[-1].event == ChatEventType.CONVERSATION_CHAT_FAILED and events[-1].chat.status == ChatStatus.CANCELED
    with pytest.raises(CozeAPIError) as info:  # no record was kept
        coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert info.value.code == 404


def test_a_client_leaving_a_stream_keeps_the_partial_answer(coze, stub_bot):
    stream = coze.chat.stream(bot_id=stub_bot, user_id="u16", additional_messages=[
        _q("__slow__ " + " ".join(f"w{i}" for i in range(200)))])
    seen = []
    for event in stream:
        seen.append(event)
        if event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA:
            break
    stream._raw_response.close()  # hang up mid-answer
    chat = seen[0].chat
    retrieved = _retrieve_when_stored(coze, chat.conversation_id, chat.id, timeout=10)
    assert retrieved.status == ChatStatus.FAILED
    assert retrieved.last_error.code == 499 and "disconnected" in retrieved.last_error.msg
    stored = list(coze.conversations.messages.list(conversation_id=chat.conversation_id, order="asc"))
    assert [m.type for m in stored] == [MessageType.QUESTION, MessageType.ANSWER]
    assert stored[1].content.startswith(seen[-1].message.content) and stored[1].content.startswith("Stub")
    # the conversation goes on, with the partial answer in its history
    more = coze.chat.create_and_poll(bot_id=stub_bot, user_id="u16", conversation_id=chat.conversation_id,
                                     additional_messages=[_q("back")])
    answer = [m.content for m in more.messages if m.type == MessageType.ANSWER][0]
    assert answer.startswith("Stub reply to 3 messages: [user] __slow__ w0") and "[assistant] Stub" in answer


def test_cancel_of_a_finished_chat_is_refused(coze, bot):
    chat = coze.chat.create_and_poll(bot_id=bot, user_id="u8", additional_messages=[_q("done already")]).chat
    with pytest.raises(CozeAPIError) as info:
        coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert info.value.code == 4104
    assert coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).status == ChatStatus.COMPLETED


# ------------------------------------------------------------------------------------- isolation


def test_another_owner_sees_nothing(gateway, coze, bot):
    chat = coze.chat.create_and_poll(bot_id=bot, user_id="u9", additional_messages=[_q("private")])
    cid = chat.chat.conversation_id
    first_message = list(coze.conversations.messages.list(conversation_id=cid))[0]
    other = _coze(gateway, gateway.create_key(OTHER_OWNER, ("admin",)))

    calls = {
        "conversations.retrieve": lambda: other.conversations.retrieve(conversation_id=cid),
        "conversations.clear": lambda: other.conversations.clear(conversation_id=cid),
        "conversations.delete": lambda: other.conversations.delete(conversation_id=cid),
        "messages.list": lambda: list(other.conversations.messages.list(conversation_id=cid)),
        "messages.retrieve": lambda: other.conversations.messages.retrieve(conversation_id=cid,
                                                                          message_id=first_message.id),
        "messages.create": lambda: other.conversations.messages.create(
            conversation_id=cid, role=MessageRole.USER, content="intrusion", content_type=MessageContentType.TEXT),
        "chat.retrieve": lambda: other.chat.retrieve(conversation_id=cid, chat_id=chat.chat.id),
        "chat.messages.list": lambda: other.chat.messages.list(conversation_id=cid, chat_id=chat.chat.id),
        "bots.retrieve": lambda: other.bots.retrieve(bot_id=bot),
        "bots.retrieve v2": lambda: other.bots.retrieve(bot_id=bot, use_api_version=2),
        "bots.update": lambda: other.bots.update(bot_id=bot, name="hijacked"),
        "bots.publish": lambda: other.bots.publish(bot_id=bot),
        "chat.create": lambda: other.chat.create(bot_id=bot, user_id="x", additional_messages=[_q("hi")]),
        "chat.create in A's conversation": lambda: other.chat.create(
            bot_id=bot, user_id="x", conversation_id=cid, additional_messages=[_q("hi")]),
        "conversations.create": lambda: other.conversations.create(bot_id=bot),
    }
    for name, call in calls.items():
        with pytest.raises(CozeAPIError) as info:
            call()
        assert info.value.code == 404, (name, info.value)

    assert bot not in {b.bot_id for b in other.bots.list(space_id=SPACE)}
    assert list(other.conversations.list(bot_id=bot)) == []
    # nothing changed for the owner
    assert coze.bots.retrieve(bot_id=bot).name == "coze echo"
    assert [m.id for m in coze.conversations.messages.list(conversation_id=cid)][-1] == \
        list(coze.conversations.messages.list(conversation_id=cid))[-1].id
    assert len(list(coze.conversations.messages.list(conversation_id=cid))) == 2


def test_missing_scope_is_403(gateway, coze, bot):
    reader = _coze(gateway, gateway.create_key(OWNER, ("read",)))
    chat = coze.chat.create(bot_id=bot, user_id="u10", additional_messages=[_q("readable")])
    # reading works
    assert reader.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).id == chat.id
    assert reader.conversations.retrieve(conversation_id=chat.conversation_id).id == chat.conversation_id
    assert reader.bots.retrieve(bot_id=bot).bot_id == bot
    # writing needs chat (or admin for bots)
    calls = {
        "chat.create": lambda: reader.chat.create(bot_id=bot, user_id="x", additional_messages=[_q("hi")]),
        "chat.stream": lambda: list(reader.chat.stream(bot_id=bot, user_id="x", additional_messages=[_q("hi")])),
        "conversations.create": lambda: reader.conversations.create(bot_id=bot),
        "conversations.clear": lambda: reader.conversations.clear(conversation_id=chat.conversation_id),
        "messages.create": lambda: reader.conversations.messages.create(
            conversation_id=chat.conversation_id, role=MessageRole.USER, content="x",
            content_type=MessageContentType.TEXT),
        "files.upload": lambda: reader.files.upload(file=("x.txt", b"x")),
        "bots.create": lambda: reader.bots.create(space_id=SPACE, name="nope"),
        "bots.update": lambda: reader.bots.update(bot_id=bot, name="nope"),
        "bots.unpublish": lambda: reader.bots.unpublish(bot_id=bot, connector_id="1024"),
    }
    for name, call in calls.items():
        with pytest.raises(CozeAPIError) as info:
            call()
        assert info.value.code == 403, (name, info.value)
    assert coze.bots.retrieve(bot_id=bot).name == "coze echo"


def test_a_bad_key_is_401(gateway, bot):
    bad = _coze(gateway, "pat_not_a_real_key")
    with pytest.raises(CozeAPIError) as info:
        bad.chat.create(bot_id=bot, user_id="x", additional_messages=[_q("hi")])
    assert info.value.code == 401 and info.value.msg == "api key invalid"
    assert info.value.logid


# ------------------------------------------------------------------------------------- failures


def test_a_failing_model(coze):
    failing = _new_bot(coze, "coze fail", "echo/fail", prompt="")
    got = []
    with pytest.raises(Exception) as info:  # cozepy raises a plain Exception on an `error` event
        for event in coze.chat.stream(bot_id=failing, user_id="u11", additional_messages=[_q("fail please")]):
            got.append(event)
    assert "error event" in str(info.value) and "simulated upstream failure" in str(info.value)
    assert [e.event for e in got][:3] == [ChatEventType.CONVERSATION_CHAT_CREATED,
                                          ChatEventType.CONVERSATION_CHAT_IN_PROGRESS,
                                          ChatEventType.CONVERSATION_MESSAGE_DELTA]
    chat = got[0].chat
    # cozepy stops at the `error` event; the outcome is stored before it is sent.
    retrieved = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert retrieved.status == ChatStatus.FAILED
    assert retrieved.last_error and retrieved.last_error.code == 502
    stored = list(coze.conversations.messages.list(conversation_id=chat.conversation_id, order="asc"))
    assert [(m.type, m.content) for m in stored] == [(MessageType.QUESTION, "fail please"),
                                                     (MessageType.ANSWER, "Echo: ")]

    # non-stream (in_progress at once, as Coze): polling finds it failed, with its error
    done = coze.chat.create(bot_id=failing, user_id="u11", additional_messages=[_q("fail again")])
    done = _retrieve_when_stored(coze, done.conversation_id, done.id)
    assert done.status == ChatStatus.FAILED and done.last_error.code == 502
    polled = coze.chat.create_and_poll(bot_id=failing, user_id="u11", additional_messages=[_q("and again")])
    assert polled.chat.status == ChatStatus.FAILED


def _retrieve_when_stored(coze: Coze, conversation_id: str, chat_id: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            chat = coze.chat.retrieve(conversation_id=conversation_id, chat_id=chat_id)
            if chat.status != ChatStatus.IN_PROGRESS or time.monotonic() > deadline:
                return chat
        except CozeAPIError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def test_the_error_event_comes_after_the_failure_is_stored(coze):
    """A Coze stream that fails mid-answer stores the chat, the question and the partial answer
    before it sends `event: error`: cozepy raises there and stops reading, and a client that asks
    at once (chat.retrieve, to learn why) must find the failed chat."""
    failing = _new_bot(coze, "coze fail now", "echo/fail", prompt="")
    got = []
    with pytest.raises(Exception, match="error event"):
        for event in coze.chat.stream(bot_id=failing, user_id="u14", additional_messages=[_q("fail now")]):
            got.append(event)
    chat = got[0].chat
    retrieved = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert retrieved.status == ChatStatus.FAILED and retrieved.last_error.code == 502
    stored = list(coze.conversations.messages.list(conversation_id=chat.conversation_id, order="asc"))
    assert [(m.type, m.content) for m in stored] == [(MessageType.QUESTION, "fail now"),
                                                     (MessageType.ANSWER, "Echo: ")]


def test_stream_of_an_unknown_bot_is_a_404_error(coze):
    with pytest.raises(CozeAPIError) as info:
        list(coze.chat.stream(bot_id="999999999", user_id="u", additional_messages=[_q("hi")]))
    assert info.value.code == 404 and "not published" in info.value.msg


def test_upstream_failure_before_any_byte(coze, stub_bot):
    with pytest.raises(CozeAPIError) as info:
        list(coze.chat.stream(bot_id=stub_bot, user_id="u12", additional_messages=[_q("__fail__")]))
    assert info.value.code == 502
    # non-stream: in_progress at once (as Coze); the chat then fails with the upstream's error
    polled = coze.chat.create_and_poll(bot_id=stub_bot, user_id="u12", additional_messages=[_q("__fail__")])
    assert polled.chat.status == ChatStatus.FAILED and polled.chat.last_error.code == 502


def test_stub_upstream_through_coze(coze, stub_bot):
    events = list(coze.chat.stream(bot_id=stub_bot, user_id="u13", additional_messages=[_q("coze to stub")]))
    text = "".join(e.message.content for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA)
    assert text == "Stub reply to 1 messages: [user] coze to stub"
    assert events[-1].event == ChatEventType.CONVERSATION_CHAT_COMPLETED
    assert events[-1].chat.usage.output_count == len(text.split())
    # continuing: the stub is sent the stored history
    again = coze.chat.create_and_poll(bot_id=stub_bot, user_id="u13", conversation_id=events[0].chat.conversation_id,
                                      additional_messages=[_q("second")])
    answer = [m.content for m in again.messages if m.type == MessageType.ANSWER][0]
    assert answer == f"Stub reply to 3 messages: [user] coze to stub [assistant] {text} [user] second"
