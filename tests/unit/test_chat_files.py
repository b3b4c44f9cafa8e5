"""Files in chat: Coze object_string file references, OpenAI image_url/file parts, AIFlowy parts and
seed 001's POST /api/v1/chat, on the echo provider (what reached the model is captured by a spy on
the runner). Uploads go through agentgate.files.service, as the files app stores them."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile

import pytest
from fastapi.testclient import TestClient

from agentgate.api.chat import app
from agentgate.chat import attachments, service
from agentgate.chat.metrics import count_store_calls
from agentgate.files import service as files
from agentgate.files import storage
from agentgate.store import bots as bot_store
from agentgate.store import conversations as store

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
NOTE = "The launch code is PELICAN-42.\nBring snacks.\n"
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def publish(owner: str, model: str = "echo", aliases=("main",), **values) -> str:
    values.setdefault("name", "Helper")
    bot = bot_store.create_bot(owner, {"model": model, **values}, aliases=list(aliases))
    bot_store.publish_bot(owner, bot.bot_id)
    return bot.bot_id


@pytest.fixture
def client(aws):
    attachments.cache_clear()
    return TestClient(app)


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


@pytest.fixture
def bot(aws):
    return publish("alice", memory_window=10)


@pytest.fixture
def seen(monkeypatch):
    """The TurnRequests the runner was given (this turn's messages and the history)."""
    requests = []
    original = service._run_turn

    def spy(req, cancel):
        requests.append(req)
        return original(req, cancel)

    monkeypatch.setattr(service, "_run_turn", spy)
    return requests


@pytest.fixture
def s3_gets(monkeypatch):
    calls = []
    original = storage.get

    def counted(key):
        calls.append(key)
        return original(key)

    monkeypatch.setattr(storage, "get", counted)
    return calls


def upload(owner: str, name: str, data: bytes):
    return files.store_upload(owner, name, data)


def object_string(*items) -> str:
    return json.dumps(list(items))


def coze_chat(client, headers, bot_id, content, *, content_type="object_string", stream=False, **extra):
    body = {"bot_id": bot_id, "user_id": "u1", "stream": stream,
            "additional_messages": [{"role": "user", "content": content, "content_type": content_type}], **extra}
    return client.post("/v3/chat", json=body, headers=headers)


def coze_events(text: str) -> list[tuple[str, object]]:
    out = []
    for frame in text.split("\n\n"):
        lines = [ln for ln in frame.split("\n") if ln]
        if lines:
            name, data = lines[0][len("event: "):], lines[1][len("data: "):]
            out.append((name, data if name == "done" else json.loads(data)))
    return out


def coze_answer(r) -> tuple[str, str]:
    evs = coze_events(r.text)
    completed = [d for n, d in evs if n == "conversation.message.completed"][-1]
    return completed["content"], completed["conversation_id"]


def user_parts(req) -> list:
    return [m.content for m in req.messages if m.role == "user"][-1]


def texts(parts) -> str:
    return "\n".join(p.get("text", "") for p in parts if p.get("type") == "text")


def table_rows() -> tuple[int, int, int]:
    return (sum(1 for _ in store.Conversation.scan()), sum(1 for _ in store.Message.scan()),
            sum(1 for _ in store.Chat.scan()))


# ------------------------------------------------------------------------------------- Coze


def test_coze_object_string_file_id_reaches_the_model_and_the_reference_is_stored(client, alice, bot, seen):
    record = upload("alice", "notes.txt", NOTE.encode())
    content = object_string({"type": "text", "text": "what is the code?"},
                            {"type": "file", "file_id": record.file_id})
    r = coze_chat(client, alice, bot, content, stream=True)
    assert r.status_code == 200, r.text
    answer, cid = coze_answer(r)
    parts = user_parts(seen[0])
    assert parts[0] == {"type": "text", "text": "what is the code?"}
    assert parts[1] == {"type": "text", "text": f"notes.txt:\n{NOTE}"}
    assert "PELICAN-42" in answer and answer.startswith("Echo: what is the code? notes.txt:")
    rows, _ = store.list_messages("alice", cid, order="asc")
    assert rows[0].content_type == "object_string" and json.loads(rows[0].content) == json.loads(content)
    # file_id as a number (seed 002 sends ids as numbers) works too
    content = object_string({"type": "file", "file_id": int(record.file_id)})
    r = coze_chat(client, alice, bot, content)
    assert r.status_code == 200 and r.json()["code"] == 0


def test_coze_image_file_id_is_an_image_part(client, alice, bot, seen):
    record = upload("alice", "pic.png", PNG)
    r = coze_chat(client, alice, bot, object_string({"type": "text", "text": "describe"},
                                                    {"type": "image", "file_id": record.file_id}))
    assert r.status_code == 200, r.text
    image = user_parts(seen[0])[1]
    assert image == {"type": "image_url",
                     "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}


def test_coze_file_url_of_ours_maps_to_the_file_and_external_images_pass(client, alice, bot, seen):
    record = upload("alice", "notes.md", NOTE.encode())
    r = coze_chat(client, alice, bot, object_string({"type": "file", "file_url": files.signed_url(record)},
                                                    {"type": "image", "file_url": "https://cdn.example/cat"}))
    assert r.status_code == 200, r.text
    parts = user_parts(seen[0])
    assert parts == [{"type": "text", "text": f"notes.md:\n{NOTE}"},
                     {"type": "image_url", "image_url": {"url": "https://cdn.example/cat"}}]


def test_coze_history_re_resolves_the_file_from_the_cache(client, alice, bot, seen, s3_gets):
    record = upload("alice", "notes.txt", NOTE.encode())
    r = coze_chat(client, alice, bot, object_string({"type": "text", "text": "remember this"},
                                                    {"type": "file", "file_id": record.file_id}))
    cid = r.json()["data"]["conversation_id"]
    assert len(s3_gets) == 1
    before = attachments.cache_info()
    with count_store_calls() as calls:
        r = coze_chat(client, alice, bot, "and now?", content_type="text", conversation_id=cid)
    assert r.status_code == 200, r.text
    # the history's question still holds the file, read from the per-process cache
    history = seen[1].history
    assert history[0].role == "user" and "PELICAN-42" in texts(history[0].content)
    assert len(s3_gets) == 1
    assert attachments.cache_info()["hits"] == before["hits"] + 1
    assert calls.by_table.get(files.FileRecord.Meta.table_name, 0) == 0


def test_coze_history_with_a_file_gone_is_a_note(client, alice, bot, seen):
    conv = store.create_conversation("alice", bot)
    store.add_message("alice", conv.conversation_id, role="user", type="question", content_type="object_string",
                      content=object_string({"type": "text", "text": "old"},
                                            {"type": "file", "file_id": "1383000000000000001"}),
                      section_id=conv.section_id, bot_id=bot)
    r = coze_chat(client, alice, bot, "hello", content_type="text", conversation_id=conv.conversation_id)
    assert r.status_code == 200, r.text
    old = seen[0].history[0].content
    assert old[0] == {"type": "text", "text": "old"}
    assert "not available" in old[1]["text"] and "file not found" in old[1]["text"]


def test_coze_unknown_file_is_404_and_nothing_is_stored(client, alice, bot):
    with count_store_calls() as calls:
        r = coze_chat(client, alice, bot, object_string({"type": "file", "file_id": "1383000000000000000"}),
                      stream=True)
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == 404 and body["msg"] == body["message"] and "file not found" in body["msg"]
    assert not any(op in calls.by_operation for op in WRITES)
    assert table_rows() == (0, 0, 0)


def test_coze_another_owners_file_is_404(client, alice, bot, as_owner):
    theirs = upload("bob", "secret.txt", b"bob's secret")
    r = coze_chat(client, alice, bot, object_string({"type": "file", "file_id": theirs.file_id}))
    assert r.status_code == 404 and "bob's secret" not in r.text
    r = coze_chat(client, alice, bot, object_string({"type": "file", "file_url": files.signed_url(theirs)}))
    assert r.status_code == 404 and r.json()["code"] == 404
    # and bob may use it
    bobs_bot = publish("bob")
    r = coze_chat(client, as_owner("bob", "chat"), bobs_bot, object_string({"type": "file", "file_id": theirs.file_id}))
    assert r.status_code == 200 and r.json()["code"] == 0


def _unusable_record(owner: str):
    """A stored file of a type the model cannot use (uploads refuse such types; records may predate that)."""
    from agentgate import ids
    from agentgate.store.files import FileRecord

    file_id = ids.new_id()
    key = storage.object_key(owner, file_id, "archive.zip")
    storage.put(key, b"PK\x03\x04junk", "application/zip")
    record = FileRecord(file_id=file_id, owner_id=owner, file_name="archive.zip", bytes=8,
                        content_type="application/zip", s3_key=key, created_at=ids.now_s())
    record.save()
    return record


def test_coze_unusable_type_is_415(client, alice, bot):
    record = _unusable_record("alice")
    r = coze_chat(client, alice, bot, object_string({"type": "file", "file_id": record.file_id}))
    assert r.status_code == 415 and r.json()["code"] == 415
    assert table_rows() == (0, 0, 0)


def test_coze_audio_is_415(client, alice, bot):
    r = coze_chat(client, alice, bot, object_string({"type": "audio", "file_url": "https://x/a.mp3"}))
    assert r.status_code == 415 and "audio" in r.json()["msg"]


# ------------------------------------------------------------------------------------- OpenAI


def openai_ask(*parts, **extra) -> dict:
    return {"model": "main", "messages": [{"role": "user", "content": list(parts)}], **extra}


def openai_error(r, status: int, fragment: str) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and fragment in err["message"]
    return err


def test_openai_image_url_of_an_upload_becomes_the_image(client, alice, bot, seen):
    record = upload("alice", "pic.png", PNG)
    url = files.signed_url(record)
    r = client.post("/v1/chat/completions", json=openai_ask(
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}}), headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Echo: what is this? [image]"
    image = user_parts(seen[0])[1]
    assert image["image_url"] == {"url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
                                  "detail": "low"}


def test_openai_external_image_url_passes_through(client, alice, bot, seen):
    url = "https://images.example/cat?size=large"
    r = client.post("/v1/chat/completions", json=openai_ask({"type": "image_url", "image_url": {"url": url}}),
                    headers=alice)
    assert r.status_code == 200, r.text
    assert user_parts(seen[0]) == [{"type": "image_url", "image_url": {"url": url}}]


def test_openai_file_part_by_file_id(client, alice, bot, seen):
    record = upload("alice", "notes.txt", NOTE.encode())
    r = client.post("/v1/chat/completions", json=openai_ask(
        {"type": "text", "text": "read"}, {"type": "file", "file": {"file_id": record.file_id}}), headers=alice)
    assert r.status_code == 200, r.text
    assert "PELICAN-42" in r.json()["choices"][0]["message"]["content"]
    assert user_parts(seen[0])[1] == {"type": "text", "text": f"notes.txt:\n{NOTE}"}


def test_openai_file_part_inline_file_data(client, alice, bot, seen):
    data_url = "data:text/plain;base64," + base64.b64encode(NOTE.encode()).decode()
    r = client.post("/v1/chat/completions", json=openai_ask(
        {"type": "file", "file": {"file_data": data_url, "filename": "inline.txt"}}), headers=alice)
    assert r.status_code == 200, r.text
    assert user_parts(seen[0]) == [{"type": "text", "text": f"inline.txt:\n{NOTE}"}]
    # bare base64 of an image: sniffed, sent as an image data: URL (the declared type is ignored)
    r = client.post("/v1/chat/completions", json=openai_ask(
        {"type": "file", "file": {"file_data": base64.b64encode(PNG).decode(), "filename": "x.txt"}}),
        headers=alice)
    assert r.status_code == 200, r.text
    assert user_parts(seen[1])[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_openai_inline_file_errors(client, alice, bot):
    openai_error(client.post("/v1/chat/completions", json=openai_ask(
        {"type": "file", "file": {"file_data": "data:text/plain;base64,@@@"}}), headers=alice), 400, "base64")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "x")
    zipped = "data:application/zip;base64," + base64.b64encode(buf.getvalue()).decode()
    openai_error(client.post("/v1/chat/completions", json=openai_ask(
        {"type": "file", "file": {"file_data": zipped}}), headers=alice), 415, "cannot be used in chat")
    openai_error(client.post("/v1/chat/completions", json=openai_ask({"type": "file", "file": {}}),
                             headers=alice), 400, "file_id or file.file_data")


def test_openai_unknown_file_is_404_and_nothing_is_stored(client, alice, bot):
    with count_store_calls() as calls:
        err = openai_error(client.post("/v1/chat/completions", json=openai_ask(
            {"type": "file", "file": {"file_id": "1383000000000000000"}}, sessionId="s", stream=True),
            headers=alice), 404, "file not found")
    assert err["type"] == "not_found_error" and err["param"] == "content"
    assert not any(op in calls.by_operation for op in WRITES)
    assert table_rows() == (0, 0, 0)


def test_openai_another_owners_file_is_404(client, alice, bot):
    theirs = upload("bob", "pic.png", PNG)
    openai_error(client.post("/v1/chat/completions", json=openai_ask(
        {"type": "image_url", "image_url": {"url": files.signed_url(theirs)}}), headers=alice), 404, "file not found")
    openai_error(client.post("/v1/chat/completions", json=openai_ask(
        {"type": "file", "file": {"file_id": theirs.file_id}}), headers=alice), 404, "file not found")


def test_openai_unusable_type_is_415(client, alice, bot):
    record = _unusable_record("alice")
    openai_error(client.post("/v1/chat/completions", json=openai_ask(
        {"type": "file", "file": {"file_id": record.file_id}}, sessionId="s"), headers=alice), 415,
        "cannot be used in chat")
    assert table_rows() == (0, 0, 0)


def test_openai_session_history_keeps_the_reference(client, alice, bot, seen, s3_gets):
    record = upload("alice", "notes.txt", NOTE.encode())
    client.post("/v1/chat/completions", json=openai_ask(
        {"type": "text", "text": "keep"}, {"type": "file", "file": {"file_id": record.file_id}}, sessionId="s"),
        headers=alice)
    r = client.post("/v1/chat/completions", json={"model": "main", "sessionId": "s",
                                                  "messages": [{"role": "user", "content": "next"}]}, headers=alice)
    assert r.status_code == 200, r.text
    assert "PELICAN-42" in texts(seen[1].history[0].content)
    assert len(s3_gets) == 1  # the second turn's history came from the cache
    stored = [m for m in store.Message.scan() if m.role == "user" and m.content_type == "object_string"]
    assert json.loads(stored[0].content)[1] == {"type": "file", "file": {"file_id": record.file_id}}


def test_text_budget_cuts_long_files(client, alice, bot, seen, monkeypatch):
    monkeypatch.setenv("AGENTGATE_FILE_TEXT_CHARS", "1500")
    record = upload("alice", "long.txt", ("word " * 2000).encode())
    r = client.post("/v1/chat/completions", json=openai_ask({"type": "file", "file": {"file_id": record.file_id}}),
                    headers=alice)
    assert r.status_code == 200, r.text
    text = user_parts(seen[0])[0]["text"]
    assert text.startswith("long.txt:\n") and "[truncated: only the first 1500 characters" in text
    assert len(text) < 1700


# ------------------------------------------------------------------------------------- AIFlowy


def test_aiflowy_file_parts_and_its_error_shape(client, alice, bot):
    record = upload("alice", "notes.txt", NOTE.encode())
    body = {"botId": bot, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "read"}, {"type": "file", "file": {"file_id": record.file_id}}]}]}
    r = client.post("/api/v1/aiBot/externalChat", json=body, headers=alice)
    assert r.status_code == 200 and "PELICAN-42" in r.json()["choices"]["message"]["content"]
    body["messages"][0]["content"][1] = {"type": "file", "file": {"file_id": "1383000000000000000"}}
    r = client.post("/api/v1/aiBot/externalChat", json=body, headers=alice)
    assert r.status_code == 404 and r.json()["errorCode"] == 404 and "file not found" in r.json()["message"]


# ------------------------------------------------------------------------------------- seed 001


def agentchat_frames(text: str) -> list[dict]:
    frames = []
    for block in text.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                frames.append(json.loads(line[len("data: "):]))
    return frames


def agentchat_error(r, status: int, fragment: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body == {"status_code": status, "status_message": body["status_message"], "data": None}
    assert fragment in body["status_message"], body
    return body


def test_agentchat_chat_streams_and_remembers(client, alice, bot, seen):
    conv = store.create_conversation("alice", bot)
    r = client.post("/api/v1/chat", json={"user_input": "hello there", "dialog_id": conv.conversation_id},
                    headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
    frames = agentchat_frames(r.text)
    chunks = [f["data"]["chunk"] for f in frames if f["type"] == "response_chunk"]
    end = frames[-1]
    assert [f["type"] for f in frames] == ["response_chunk"] * len(chunks) + ["response_end"]
    assert "".join(chunks) == end["data"]["content"] == end["data"]["accumulated"] == "Echo: hello there"
    assert end["data"]["dialog_id"] == conv.conversation_id and end["data"]["finish_reason"] == "stop"
    assert end["data"]["usage"]["total_tokens"] > 0
    # the next turn continues the conversation
    r = client.post("/api/v1/chat", json={"user_input": "again", "dialog_id": conv.conversation_id},
                    headers=alice)
    assert "memory: 2 earlier messages" in agentchat_frames(r.text)[-1]["data"]["content"]
    rows, _ = store.list_messages("alice", conv.conversation_id, order="asc")
    assert [(m.role, m.type, m.content) for m in rows] == [
        ("user", "question", "hello there"), ("assistant", "answer", "Echo: hello there"),
        ("user", "question", "again"), ("assistant", "answer", rows[3].content)]
    assert rows[0].chat_id and store.get_chat("alice", conv.conversation_id, rows[0].chat_id).status == "completed"


def test_agentchat_chat_with_file_url(client, alice, bot, seen, s3_gets):
    record = upload("alice", "notes.txt", NOTE.encode())
    url = files.signed_url(record)
    conv = store.create_conversation("alice", bot)
    r = client.post("/api/v1/chat", json={"user_input": "what is the code?", "dialog_id": conv.conversation_id,
                                          "file_url": url}, headers=alice)
    assert r.status_code == 200, r.text
    assert "PELICAN-42" in agentchat_frames(r.text)[-1]["data"]["content"]
    assert user_parts(seen[0]) == [{"type": "text", "text": "what is the code?"},
                                   {"type": "text", "text": f"notes.txt:\n{NOTE}"}]
    rows, _ = store.list_messages("alice", conv.conversation_id, order="asc")
    assert rows[0].content_type == "object_string"
    assert json.loads(rows[0].content) == [{"type": "text", "text": "what is the code?"},
                                           {"type": "file", "file_url": url}]
    # a later turn re-reads the file from the stored reference (from the cache)
    client.post("/api/v1/chat", json={"user_input": "and?", "dialog_id": conv.conversation_id}, headers=alice)
    assert "PELICAN-42" in texts(seen[1].history[0].content) and len(s3_gets) == 1


def test_agentchat_chat_errors_in_seed_001_shape(client, alice, bot, as_owner):
    conv = store.create_conversation("alice", bot)
    cid = conv.conversation_id
    agentchat_error(client.post("/api/v1/chat", json={"user_input": "x", "dialog_id": "1383000000000000009"},
                                headers=alice), 404, "not found: create one with POST /api/v1/dialog")
    agentchat_error(client.post("/api/v1/chat", json={"user_input": "x", "dialog_id": cid},
                                headers=as_owner("bob", "chat")), 404, "not found: create one with POST /api/v1/dialog")
    agentchat_error(client.post("/api/v1/chat", json={"dialog_id": cid}, headers=alice), 422, "user_input")
    agentchat_error(client.post("/api/v1/chat", json={"user_input": " ", "dialog_id": cid}, headers=alice), 422,
                    "blank")
    agentchat_error(client.post("/api/v1/chat", json={"user_input": "x"}, headers=alice), 422, "dialog_id")
    agentchat_error(client.post("/api/v1/chat", content=b"{nope", headers={**alice, "content-type": "application/json"}),
                    400, "malformed JSON")
    agentchat_error(client.post("/api/v1/chat", json={"user_input": "x", "dialog_id": cid},
                                headers=as_owner("alice", "read")), 403, "chat")
    # a file problem: nothing stored
    theirs = upload("bob", "secret.txt", b"secret")
    with count_store_calls() as calls:
        agentchat_error(client.post("/api/v1/chat", json={"user_input": "x", "dialog_id": cid,
                                                          "file_url": files.signed_url(theirs)}, headers=alice),
                        404, "file not found")
        agentchat_error(client.post("/api/v1/chat", json={"user_input": "x", "dialog_id": cid,
                                                          "file_url": "https://example.com/doc.pdf"}, headers=alice),
                        400, "upload other files first")
    assert not any(op in calls.by_operation for op in WRITES)
    assert store.list_messages("alice", cid, order="asc")[0] == []
    # /api/v1/chat/completions stays OpenAI-shaped
    r = client.post("/api/v1/chat/completions", json={"model": "main"}, headers=alice)
    assert r.status_code == 400 and "error" in r.json()


def test_agentchat_failure_mid_stream_is_an_error_frame(client, alice, aws):
    flaky = publish("alice", model="echo/fail", aliases=["flaky"])
    conv = store.create_conversation("alice", flaky)
    r = client.post("/api/v1/chat", json={"user_input": "a b c", "dialog_id": conv.conversation_id},
                    headers=alice)
    frames = agentchat_frames(r.text)
    assert [f["type"] for f in frames] == ["response_chunk", "error", "response_end"]
    assert frames[1]["data"] == {"status_code": 502, "status_message": "echo/fail: simulated upstream failure"}
    assert frames[2]["data"]["finish_reason"] == "error"


def test_error_shapes_by_path():
    from agentgate.api.errors import shape_for_path

    assert shape_for_path("/api/v1/chat") == "agentchat"
    assert shape_for_path("/api/v1/chat/completions") == "openai"
    assert shape_for_path("/api/v1/chatter") == "coze"
    assert shape_for_path("/api/v1/upload") == "agentchat"


# ------------------------------------------------------------------------------------- pieces


def test_cache_is_per_owner_and_bounded(aws):
    attachments.cache_clear()
    record = upload("alice", "notes.txt", NOTE.encode())
    assert attachments.resolve_parts("alice", [{"type": "file", "file_id": record.file_id}])
    assert attachments.resolve_parts("alice", [{"type": "file", "file_id": record.file_id}])
    assert attachments.cache_info()["hits"] == 1
    with pytest.raises(Exception) as err:  # a cached entry never serves another owner
        attachments.resolve_parts("bob", [{"type": "file", "file_id": record.file_id}])
    assert getattr(err.value, "status", None) == 404
    cache = attachments._Cache(max_entries=2, max_chars=100)
    for i in range(3):
        cache.put(("k", i), [{"type": "text", "text": "x" * 10}], 60)
    assert cache.info()["entries"] == 2 and cache.get(("k", 0)) is None
    cache.put(("big",), [{"type": "text", "text": "x" * 101}], 60)
    assert cache.get(("big",)) is None
    got = cache.get(("k", 2))
    got[0]["text"] = "changed"  # callers get copies
    assert cache.get(("k", 2))[0]["text"] == "x" * 10


def test_history_images_for_bedrock_are_data_urls(aws):
    from agentgate.runner.providers import bedrock

    record = upload("alice", "pic.png", PNG)
    parts = attachments.resolve_parts("alice", [{"type": "image", "file_id": record.file_id}])
    blocks = bedrock._content_blocks(parts)
    assert blocks == [{"image": {"format": "png", "source": {"bytes": PNG}}}]


def test_chat_import_path_stays_light():
    code = ("import sys, agentgate.api.chat, agentgate.chat.attachments, agentgate.protocols.agentchat; "
            "print(sorted(m for m in ('pypdf', 'docx', 'boto3', 'agentgate.files.attachments', "
            "'agentgate.files.extract') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_agentchat_conversation_of_an_unpublished_bot_is_404(client, alice, bot):
    conv = store.create_conversation("alice", bot)
    bot_store.unpublish_bot("alice", bot)
    agentchat_error(client.post("/api/v1/chat", json={"user_input": "x", "dialog_id": conv.conversation_id},
                                headers=alice), 404, "bot not found or not published")
    assert store.list_messages("alice", conv.conversation_id, order="asc")[0] == []
