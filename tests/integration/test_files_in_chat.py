"""Files in chat through the real local gateway (`agentgate dev`): upload, then chat with a bot on the
stub upstream ("stub/stub"), and prove from the stub's own log (GET /_requests) that the file's text
or image reached the model, and from the answer that the stub quoted it.

Three clients: cozepy (files.upload + chat.stream with an object_string message), the openai SDK
(an image_url part pointing at an uploaded PNG's presigned URL) and seed 001's plain HTTP flow
(POST /api/v1/upload -> signed URL, /v1/conversation/create -> dialog_id, POST /api/v1/chat).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

OWNER = "files-in-chat"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(48))


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.create_key(OWNER, scopes=("admin",))


@pytest.fixture(scope="module")
def http(gateway, key):
    with gateway.client(key) as c:
        yield c


@pytest.fixture(scope="module")
def stub_bot(http) -> str:
    r = http.post("/v1/bot/create", json={"name": "files stub", "model": "stub/stub", "memory_window": 10})
    assert r.status_code == 200, r.text
    bot_id = r.json()["data"]["bot_id"]
    r = http.post("/v1/bot/publish", json={"bot_id": bot_id})
    assert r.status_code == 200, r.text
    return bot_id


def stub_requests(stub_upstream: str) -> list[dict]:
    base = stub_upstream.rsplit("/v1", 1)[0]
    r = httpx.get(f"{base}/_requests", timeout=10)
    r.raise_for_status()
    return r.json()


def request_with(stub_upstream: str, marker: str) -> dict:
    """The (last) body the stub received that mentions `marker` anywhere."""
    found = [body for body in stub_requests(stub_upstream) if marker in json.dumps(body, ensure_ascii=False)]
    assert found, f"the stub never saw {marker!r}"
    return found[-1]


def user_content(body: dict) -> list:
    return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def test_cozepy_object_string_file_id(gateway, key, stub_bot, stub_upstream, tmp_path):
    from cozepy import ChatEventType, Coze, Message, MessageObjectString, TokenAuth

    secret = unique("ORCHID")
    path = tmp_path / "brief.txt"
    path.write_text(f"The secret word is {secret}.\n", encoding="utf-8")
    coze = Coze(auth=TokenAuth(key), base_url=gateway.base_url)
    uploaded = coze.files.upload(file=Path(path))
    assert uploaded.id and uploaded.file_name == "brief.txt"

    question = Message.build_user_question_objects([MessageObjectString.build_text("What is the secret word?"),
                                                    MessageObjectString.build_file(file_id=uploaded.id)])
    answer, conversation_id = "", None
    for event in coze.chat.stream(bot_id=stub_bot, user_id="u1", additional_messages=[question]):
        if event.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED and event.message.type == "answer":
            answer = event.message.content
        if event.event == ChatEventType.CONVERSATION_CHAT_COMPLETED:
            conversation_id = event.chat.conversation_id
    assert conversation_id
    # what the model saw: the question's text, then the file's text as its own part
    body = request_with(stub_upstream, secret)
    parts = user_content(body)
    assert parts[0] == {"type": "text", "text": "What is the secret word?"}
    assert parts[1]["type"] == "text" and parts[1]["text"] == f"brief.txt:\nThe secret word is {secret}.\n"
    assert secret in answer and answer.startswith("Stub reply")

    # the conversation keeps the reference, and the next turn still shows the file to the model
    stored = coze.conversations.messages.list(conversation_id=conversation_id)
    question_row = [m for m in stored.items if m.type == "question"][0]
    assert question_row.content_type == "object_string" and uploaded.id in question_row.content
    follow = Message.build_user_question_text(unique("again"))
    for _ in coze.chat.stream(bot_id=stub_bot, user_id="u1", conversation_id=conversation_id,
                              additional_messages=[follow]):
        pass
    body = request_with(stub_upstream, follow.content)
    assert secret in json.dumps(body["messages"][:-1])  # in the history, re-resolved


def test_cozepy_unknown_file_is_a_404(gateway, key, stub_bot):
    from cozepy import Coze, CozeAPIError, Message, MessageObjectString, TokenAuth

    coze = Coze(auth=TokenAuth(key), base_url=gateway.base_url)
    question = Message.build_user_question_objects([MessageObjectString.build_file(file_id="1383000000000000000")])
    with pytest.raises(CozeAPIError) as info:
        for _ in coze.chat.stream(bot_id=stub_bot, user_id="u1", additional_messages=[question]):
            pass
    assert info.value.code == 404 and "file not found" in info.value.msg


def test_openai_image_url_of_an_uploaded_png(gateway, key, stub_bot, stub_upstream):
    from openai import OpenAI

    r = httpx.post(f"{gateway.base_url}/v1/files/upload", headers={"Authorization": f"Bearer {key}"},
                   files={"file": ("pixel.png", PNG, "image/png")}, timeout=30)
    assert r.status_code == 200, r.text
    url = r.json()["data"]["upload_url"]
    marker = unique("look")
    client = OpenAI(api_key=key, base_url=f"{gateway.base_url}/v1")
    stream = client.chat.completions.create(model=stub_bot, stream=True, messages=[{"role": "user", "content": [
        {"type": "text", "text": marker}, {"type": "image_url", "image_url": {"url": url}}]}])
    answer = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert marker in answer and "[image]" in answer
    parts = user_content(request_with(stub_upstream, marker))
    assert parts[0] == {"type": "text", "text": marker}
    assert parts[1] == {"type": "image_url",
                        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}


def test_openai_another_owners_file_is_a_404(gateway, stub_bot):
    from openai import NotFoundError, OpenAI

    other = gateway.create_key(unique("other-owner"), scopes=("admin",))
    r = httpx.post(f"{gateway.base_url}/v1/files/upload", headers={"Authorization": f"Bearer {other}"},
                   files={"file": ("theirs.txt", b"not yours", "text/plain")}, timeout=30)
    file_id = r.json()["data"]["id"]
    key = gateway.create_key(OWNER, scopes=("chat",))
    client = OpenAI(api_key=key, base_url=f"{gateway.base_url}/v1")
    with pytest.raises(NotFoundError) as info:
        client.chat.completions.create(model=stub_bot, messages=[{"role": "user", "content": [
            {"type": "file", "file": {"file_id": file_id}}]}])
    assert "file not found" in str(info.value)


def test_seed_001_upload_then_chat_with_file_url(gateway, key, http, stub_bot, stub_upstream):
    secret = unique("MARIGOLD")
    r = http.post("/api/v1/upload", files={"file": ("memo.md", f"# Memo\nThe password is {secret}.\n".encode())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status_code"] == 200 and body["status_message"] == "SUCCESS"
    signed_url = body["data"]
    assert signed_url.startswith("http")

    r = http.post("/v1/conversation/create", json={"bot_id": stub_bot})
    assert r.status_code == 200, r.text
    dialog_id = r.json()["data"]["id"]

    frames = []
    with httpx.stream("POST", f"{gateway.base_url}/api/v1/chat", timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"user_input": "What is the password?", "dialog_id": dialog_id,
                            "file_url": signed_url}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line[len("data: "):]))
    chunks = [f["data"]["chunk"] for f in frames if f["type"] == "response_chunk"]
    assert chunks and frames[-1]["type"] == "response_end"
    answer = frames[-1]["data"]["content"]
    assert "".join(chunks) == answer and secret in answer and frames[-1]["data"]["dialog_id"] == dialog_id
    parts = user_content(request_with(stub_upstream, secret))
    assert parts[0] == {"type": "text", "text": "What is the password?"}
    assert parts[1]["text"] == f"memo.md:\n# Memo\nThe password is {secret}.\n"

    # stored like a Coze chat: the question (with its file reference) and the answer
    listed = http.post("/v1/conversation/message/list", params={"conversation_id": dialog_id},
                       json={"order": "asc"}).json()["data"]
    assert [(m["role"], m["type"]) for m in listed] == [("user", "question"), ("assistant", "answer")]
    assert listed[0]["content_type"] == "object_string" and listed[1]["content"] == answer

    # errors before the first byte: seed 001's shape
    r = http.post("/api/v1/chat", json={"user_input": "hi", "dialog_id": "1383000000000000000"})
    assert r.status_code == 404 and r.json() == {"status_code": 404, "status_message": r.json()["status_message"],
                                                 "data": None}
    r = http.post("/api/v1/chat", json={"dialog_id": dialog_id})
    assert r.status_code == 422 and r.json()["data"] is None and "user_input" in r.json()["status_message"]
    r = httpx.post(f"{gateway.base_url}/api/v1/chat", json={"user_input": "hi", "dialog_id": dialog_id})
    assert r.status_code == 401
