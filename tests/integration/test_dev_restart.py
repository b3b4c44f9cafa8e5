"""`agentgate dev` keeps its data across restarts (.agentgate/data/), and `--ephemeral` keeps none.

Each test runs its own gateway subprocesses in its own directory (the session's shared gateway is
not restarted): a key, a bot, a conversation and a file made before a restart are all usable after
it, through the real clients, and a presigned file URL handed out before still downloads.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

OWNER = "restart-owner"


def _coze(gateway, key):
    from cozepy import Coze, TokenAuth

    return Coze(auth=TokenAuth(key), base_url=gateway.base_url)


def _answer(coze, bot_id, conversation_id, text) -> str:
    from cozepy import ChatEventType, Message

    answer = ""
    for event in coze.chat.stream(bot_id=bot_id, user_id="u1", conversation_id=conversation_id,
                                  additional_messages=[Message.build_user_question_text(text)]):
        if event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA:
            answer += event.message.content
    return answer


def _make_everything(gateway, tmp_path: Path) -> dict:
    key = gateway.create_key(OWNER, scopes=("admin",))
    coze = _coze(gateway, key)
    with gateway.client(key) as http:
        r = http.post("/v1/bot/create", json={"name": "kept bot", "model": "echo", "aliases": ["kept"]})
        assert r.status_code == 200, r.text
        bot_id = r.json()["data"]["bot_id"]
        assert http.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200
        body = f"kept file {uuid.uuid4().hex}\n".encode()
        r = http.post("/v1/files/upload", files={"file": ("kept.txt", body, "text/plain")})
        assert r.status_code == 200, r.text
        file = r.json()["data"]
    conversation = coze.conversations.create(bot_id=bot_id)
    first = _answer(coze, bot_id, conversation.id, "before the restart")
    assert "before the restart" in first
    return {"key": key, "bot_id": bot_id, "conversation_id": conversation.id, "file_id": file["id"],
            "file_url": file["upload_url"], "file_body": body}


def _use_everything(gateway, made: dict) -> None:
    key = made["key"]
    coze = _coze(gateway, key)
    # the key still authenticates, and still sees only its owner's things
    with gateway.client(key) as http:
        r = http.get("/v1/bot/get_online_info", params={"bot_id": made["bot_id"]})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["name"] == "kept bot"
    # the bot answers in the same conversation, whose history came back too
    answer = _answer(coze, made["bot_id"], made["conversation_id"], "after the restart")
    assert "after the restart" in answer
    contents = [m.content for m in coze.conversations.messages.list(conversation_id=made["conversation_id"])]
    assert "before the restart" in contents and "after the restart" in contents
    # the file: its metadata by id, and the presigned URL handed out before the restart
    assert coze.files.retrieve(file_id=made["file_id"]).file_name == "kept.txt"
    r = httpx.get(made["file_url"], timeout=10)
    assert r.status_code == 200 and r.content == made["file_body"]
    # an alias is still claimed by its bot
    with gateway.client(key) as http:
        r = http.post("/v1/bot/create", json={"name": "alias thief", "model": "echo", "aliases": ["kept"]})
        assert r.status_code >= 400


def _exits(pid: int, within_s: float) -> bool:
    """Whether the process is gone (or a zombie: it has exited, only its reaping is left) soon.
    It lets go of the data dir's lock just before it exits, so it may still be ending now."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_key_bot_conversation_and_file_survive_a_restart_and_a_kill(tmp_path, launch_gateway):
    workdir = tmp_path / "project"
    workdir.mkdir()
    first = launch_gateway(workdir)
    try:
        made = _make_everything(first.gateway, tmp_path)
        store_port = first.gateway.info["s3_endpoint"].rsplit(":", 1)[1]
    finally:
        assert first.stop() == 0  # SIGTERM, as a terminal's Ctrl-C or a process manager sends
    assert (workdir / ".agentgate" / "data" / "store.sqlite3").exists()

    second = launch_gateway(workdir)
    assert second.gateway.base_url != first.gateway.base_url  # a new gateway port...
    assert second.gateway.info["s3_endpoint"].endswith(f":{store_port}")  # ...the store's is kept
    _use_everything(second.gateway, made)
    # SIGKILL gives the gateway no chance to clean up: its store sees its stdin close, writes what
    # is left and exits, so the next start finds everything, the turn just made included.
    store_pid = second.gateway.info["store_pid"]
    second.stop(kill=True)
    third = launch_gateway(workdir)  # waits for the old store to let go of the data dir
    try:
        assert _exits(store_pid, within_s=15), "the old store process outlived its gateway"
        _use_everything(third.gateway, made)
        coze = _coze(third.gateway, made["key"])
        contents = [m.content for m in coze.conversations.messages.list(conversation_id=made["conversation_id"])]
        assert contents.count("after the restart") == 2
    finally:
        third.stop()


def test_a_custom_data_dir(tmp_path, launch_gateway):
    workdir = tmp_path / "project"
    workdir.mkdir()
    data = tmp_path / "elsewhere"
    first = launch_gateway(workdir, "--data-dir", str(data))
    try:
        key = first.gateway.create_key(OWNER)
        assert first.gateway.info["data_dir"] == str(data.resolve())
        assert (data / "store.sqlite3").exists() and not (workdir / ".agentgate" / "data").exists()
    finally:
        first.stop()
    second = launch_gateway(workdir, "--data-dir", str(data))
    try:
        with second.gateway.client(key) as http:
            assert http.get("/v1/models").status_code == 200
    finally:
        second.stop()


def test_ephemeral_keeps_nothing_and_leaves_nothing(tmp_path, launch_gateway):
    workdir = tmp_path / "project"
    workdir.mkdir()
    run = launch_gateway(workdir, "--ephemeral")
    try:
        key = run.gateway.create_key(OWNER)
        with run.gateway.client(key) as http:
            assert http.get("/v1/models").status_code == 200
        assert run.gateway.info["data_dir"] is None
    finally:
        assert run.stop() == 0
    assert list(workdir.iterdir()) == []  # no data dir, no dev.json
