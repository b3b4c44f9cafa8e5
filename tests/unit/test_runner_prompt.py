"""Prompt assembly: the system prompt's variables, the memory window, the caller's messages."""

from __future__ import annotations

from agentgate.runner.prompt import build_messages, fill_variables, text_of, trim_history
from agentgate.runner.runner import merge_params
from agentgate.runner.types import BotSpec, ChatMessage, TurnRequest


def bot(**kw) -> BotSpec:
    base = dict(bot_id="b1", name="Helper", model="echo", system_prompt="", memory_window=10)
    base.update(kw)
    return BotSpec(**base)


def convo(n: int) -> list[ChatMessage]:
    return [ChatMessage("user" if i % 2 == 0 else "assistant", f"m{i}") for i in range(n)]


def test_variables_fill_from_bot_defaults_and_request_overrides():
    b = bot(system_prompt="You are {{ persona }} helping {{user_name}}.", variables={"persona": "a pirate", "user_name": "someone"})
    req = TurnRequest(b, messages=[ChatMessage("user", "hi")], variables={"user_name": "Ada"})
    assert build_messages(req)[0] == {"role": "system", "content": "You are a pirate helping Ada."}


def test_unknown_placeholders_become_blank_and_other_braces_stay():
    assert fill_variables("Hi {{missing}}!", {}) == "Hi {{missing}}!"  # visible, never blanked
    assert fill_variables("Hi {{ name }}, {{x}}", {"name": "Ada"}) == "Hi Ada, {{x}}"
    assert fill_variables('JSON: {{"a": 1}}', {}) == 'JSON: {{"a": 1}}'


def test_empty_system_prompt_sends_no_system_message():
    req = TurnRequest(bot(system_prompt="  "), messages=[ChatMessage("user", "hi")])
    assert build_messages(req) == [{"role": "user", "content": "hi"}]


def test_history_is_trimmed_to_the_memory_window():
    req = TurnRequest(bot(system_prompt="S", memory_window=2), history=convo(6), messages=[ChatMessage("user", "new")])
    assert [m["content"] for m in build_messages(req)] == ["S", "m4", "m5", "new"]


def test_memory_window_zero_means_no_memory():
    req = TurnRequest(bot(memory_window=0), history=convo(4), messages=[ChatMessage("user", "new")])
    assert [m["content"] for m in build_messages(req)] == ["new"]


def test_window_never_starts_with_an_orphan_tool_result():
    history = [ChatMessage("user", "q"), ChatMessage("assistant", "", tool_calls=[{"id": "c1"}]),
               ChatMessage("tool", "42", tool_call_id="c1"), ChatMessage("assistant", "it is 42")]
    assert [m.content for m in trim_history(history, 2)] == ["it is 42"]


def test_caller_system_message_is_kept_after_the_bot_prompt():
    req = TurnRequest(bot(system_prompt="Bot rules"), history=convo(2),
                      messages=[ChatMessage("system", "Caller rules"), ChatMessage("user", "q")])
    out = build_messages(req)
    assert [(m["role"], m["content"]) for m in out] == [
        ("system", "Bot rules"), ("system", "Caller rules"), ("user", "m0"), ("assistant", "m1"), ("user", "q")]


def test_content_parts_and_tool_fields_pass_through():
    parts = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]
    req = TurnRequest(bot(), messages=[ChatMessage("user", parts), ChatMessage("tool", "ok", tool_call_id="c9")])
    out = build_messages(req)
    assert out[0]["content"] == parts
    assert out[1] == {"role": "tool", "content": "ok", "tool_call_id": "c9"}
    assert text_of(parts) == "what is this? [image]"


def test_request_params_override_the_bots():
    b = bot(temperature=0.2, max_tokens=100)
    assert merge_params(b, {}) == {"temperature": 0.2, "max_tokens": 100}
    assert merge_params(b, {"temperature": 0.9, "top_p": 0.5, "stop": None}) == {
        "temperature": 0.9, "max_tokens": 100, "top_p": 0.5}
    assert merge_params(b, {"max_completion_tokens": 7})["max_tokens"] == 7
    assert "unknown" not in merge_params(b, {"unknown": 1})
