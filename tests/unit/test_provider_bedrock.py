"""The Bedrock provider: request mapping through botocore's Stubber, stream events, errors."""

from __future__ import annotations

import base64

import boto3
import pytest
from botocore.stub import Stubber

from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.providers.bedrock import BedrockProvider, build_request, events_from, to_converse_messages

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def anyio_backend():
    return "asyncio"


class FakeEventStream:
    """What botocore returns as response["stream"]: an iterable of event dicts with close()."""

    def __init__(self, events):
        self.events = events
        self.closed = False

    def __iter__(self):
        for event in self.events:
            if self.closed:
                return
            yield event

    def close(self):
        self.closed = True


@pytest.fixture
def bedrock():
    """A stubbed bedrock-runtime client. Stubber cannot build an event stream, so an after-call
    hook swaps the (validated, empty) stub answer's stream for the events a test queues."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stubber = Stubber(client)
    streams: list[FakeEventStream] = []

    def swap(parsed, **_):
        if "stream" in parsed and streams:
            parsed["stream"] = streams.pop(0)

    client.meta.events.register("after-call.bedrock-runtime.ConverseStream", swap)

    def expect(request: dict, events: list[dict]) -> FakeEventStream:
        stream = FakeEventStream(events)
        streams.append(stream)
        stubber.add_response("converse_stream", {"stream": {}}, request)
        return stream

    with stubber:
        yield client, stubber, expect
        stubber.assert_no_pending_responses()


TEXT_EVENTS = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"delta": {"text": "Hello"}, "contentBlockIndex": 0}},
    {"contentBlockDelta": {"delta": {"text": " there"}, "contentBlockIndex": 0}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"messageStop": {"stopReason": "end_turn"}},
    {"metadata": {"usage": {"inputTokens": 12, "outputTokens": 2, "totalTokens": 14}, "metrics": {"latencyMs": 5}}},
]


async def run(provider, messages, params=None):
    return [e async for e in provider.stream(messages, MODEL, params or {})]


@pytest.mark.anyio
async def test_streams_text_usage_and_finish(bedrock):
    client, _, expect = bedrock
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    expect({"modelId": MODEL, "system": [{"text": "Be brief."}], "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}},
           TEXT_EVENTS)
    events = await run(BedrockProvider(client=client), messages,
                       {"max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "stop": "END"})
    assert events == [TextDelta("Hello"), TextDelta(" there"), Usage(12, 2), Finish("stop")]


@pytest.mark.anyio
async def test_tool_use_becomes_a_tool_call(bedrock):
    client, _, expect = bedrock
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    expect({"modelId": MODEL, "messages": [{"role": "user", "content": [{"text": "weather?"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                                                   "inputSchema": {"json": tools[0]["function"]["parameters"]}}}],
                           "toolChoice": {"any": {}}}},
           [{"contentBlockStart": {"start": {"toolUse": {"toolUseId": "tu1", "name": "get_weather"}}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"city": '}}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"toolUse": {"input": '"Paris"}'}}, "contentBlockIndex": 0}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "tool_use"}}])
    events = await run(BedrockProvider(client=client), [{"role": "user", "content": "weather?"}],
                       {"tools": tools, "tool_choice": "required"})
    assert events == [ToolCall("tu1", "get_weather", '{"city": "Paris"}'), Finish("tool_calls")]


@pytest.mark.anyio
@pytest.mark.parametrize("code, status", [("ValidationException", 400), ("AccessDeniedException", 502),
                                          ("ThrottlingException", 429), ("ResourceNotFoundException", 404)])
async def test_client_errors_become_error_events(bedrock, code, status):
    client, stubber, _ = bedrock
    stubber.add_client_error("converse_stream", service_error_code=code, service_message="nope", http_status_code=400)
    events = await run(BedrockProvider(client=client), [{"role": "user", "content": "hi"}])
    assert isinstance(events[0], Error) and events[0].status == status
    assert events[1:] == [Finish("error")]


@pytest.mark.anyio
async def test_closing_early_closes_the_bedrock_stream(bedrock):
    client, _, expect = bedrock
    many = [{"contentBlockDelta": {"delta": {"text": f"w{i} "}, "contentBlockIndex": 0}} for i in range(50)]
    stream = expect({"modelId": MODEL, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}, many)
    events = BedrockProvider(client=client).stream([{"role": "user", "content": "hi"}], MODEL, {})
    assert await anext(events) == TextDelta("w0 ")
    await events.aclose()
    assert stream.closed


def test_max_tokens_and_stream_errors_map():
    events = events_from([{"contentBlockDelta": {"delta": {"text": "a"}, "contentBlockIndex": 0}},
                          {"messageStop": {"stopReason": "max_tokens"}}])
    assert events == [TextDelta("a"), Finish("length")]
    events = events_from([{"contentBlockDelta": {"delta": {"text": "a"}, "contentBlockIndex": 0}},
                          {"throttlingException": {"message": "slow down"}}])
    assert events[1].status == 429 and events[-1] == Finish("error")


def test_messages_map_to_converse():
    png = base64.b64encode(b"\x89PNG").decode()
    messages = [
        {"role": "system", "content": "S1"},
        {"role": "assistant", "content": "orphan from a trimmed window"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]},
        {"role": "user", "content": "and this"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    system, out = to_converse_messages(messages)
    assert system == [{"text": "S1"}]
    assert out == [
        {"role": "user", "content": [{"text": "look"}, {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}},
                                     {"text": "and this"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "c1", "name": "f", "input": {"x": 1}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "c1", "content": [{"text": "42"}]}}]},
    ]


@pytest.mark.anyio
async def test_an_http_image_is_a_400_before_any_call():
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}]
    events = await run(BedrockProvider(client=object()), messages)
    assert events[0].status == 400 and events[1:] == [Finish("error")]


def test_build_request_omits_what_is_not_set():
    assert build_request([{"role": "user", "content": "hi"}], MODEL, {}) == {
        "modelId": MODEL, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}
