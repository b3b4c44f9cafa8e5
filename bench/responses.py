"""agentgate benchmark: time to the first output_text.delta of the OpenAI Responses API, beside the
Chat Completions figure, over calling the upstream directly, in one run. A report, not a test.

    .venv/bin/python bench/responses.py [--requests 100] [--warmup 10]

The same bench stub upstream and `agentgate dev` as bench/run.py (its helpers), one bot on the
stub, then per round (modes alternate, order rotating):
  (a) direct to the stub: POST /v1/chat/completions with exactly what the gateway sends it;
  (b) the gateway's Chat Completions (stream): first `choices[0].delta.content`;
  (c) the gateway's Responses (stream, store: true, the default): first response.output_text.delta;
  (d) the same with store: false (no DynamoDB write at all).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (QUESTION, TTFT_DELTAS, Mode, Procs, Sample, alternate, fail_note, heading, line, ms,  # noqa: E402
                 pct, start_gateway, start_stub, stream_once)


def responses_once(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> Sample:
    """POST a streamed Responses request; stamp each network read, parse afterwards."""
    chunks: list[tuple[float, bytes]] = []
    t0 = time.perf_counter()
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
            for chunk in response.iter_raw():
                chunks.append((time.perf_counter(), chunk))
        t_end = time.perf_counter()
    except httpx.HTTPError as exc:
        return Sample(False, error=f"{type(exc).__name__}: {exc}")
    raw = b"".join(c for _, c in chunks)
    if status != 200:
        return Sample(False, error=f"HTTP {status}: {raw[:200]!r}")
    sample = Sample(True, total=t_end - t0, reads=len(chunks))
    buf, completed = b"", False
    for index, (t, chunk) in enumerate(chunks):
        buf += chunk
        while (cut := buf.find(b"\n\n")) >= 0:
            frame, buf = buf[:cut], buf[cut + 2:]
            data = next((line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:")), None)
            if data is None:
                continue
            sample.data_frames += 1
            obj = json.loads(data)
            if obj["type"] == "response.output_text.delta":
                sample.deltas.append(t - t0)
                sample.delta_read.append(index)
            elif obj["type"] == "response.completed":
                completed = True
            elif obj["type"] in ("error", "response.failed"):
                return Sample(False, error=f"error frame: {data[:200]!r}")
    if not completed or not sample.deltas:
        return Sample(False, error=f"incomplete stream: {raw[-200:]!r}")
    sample.ttft = sample.deltas[0]
    return sample


class ResponsesMode(Mode):
    def run(self, i: int, record: bool, expect_deltas: int | None = None) -> None:
        s = responses_once(self.client, self.url, self.make_body(i), self.headers)
        if s.ok and expect_deltas is not None and len(s.deltas) != expect_deltas:
            s.ok, s.error = False, f"{len(s.deltas)} output_text deltas, expected {expect_deltas}"
        if record:
            (self.samples.append(s) if s.ok else self.failures.append(s.error))


def main() -> int:
    parser = argparse.ArgumentParser(description="Responses API TTFT benchmark (a report; always exits 0)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    print(f"agentgate Responses benchmark  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    procs = Procs()
    workdir = Path(tempfile.mkdtemp(prefix="agentgate-bench-responses-"))
    try:
        stub_url = start_stub(procs, workdir)
        info, boot_s = start_gateway(procs, workdir, stub_url)
        base = info["base_url"]
        print(f"stub {stub_url}  gateway {base} (ready in {boot_s:.1f} s)")
        auth = {"Authorization": f"Bearer {info['admin_key']}", "content-type": "application/json"}
        with httpx.Client(timeout=30) as admin:
            r = admin.post(f"{base}/v1/bot/create", headers=auth, json={
                "name": "bench bot", "prompt_info": {"prompt": "You are the benchmark bot."}, "model": "bench/stub"})
            r.raise_for_status()
            bot_id = r.json()["data"]["bot_id"]
            admin.post(f"{base}/v1/bot/publish", headers=auth, json={"bot_id": bot_id}).raise_for_status()

        text = f"{QUESTION} bench_deltas={TTFT_DELTAS}"
        stub_root = stub_url.rsplit("/v1", 1)[0]
        direct_client, chat_client, resp_client = httpx.Client(timeout=30), httpx.Client(timeout=30), \
            httpx.Client(timeout=30)
        chat_body = json.dumps({"model": bot_id, "stream": True, "stream_options": {"include_usage": True},
                                "messages": [{"role": "user", "content": text}]}).encode()

        httpx.delete(f"{stub_root}/_requests", timeout=10)
        s = stream_once(chat_client, f"{base}/v1/chat/completions", chat_body, auth)
        if not s.ok:
            raise RuntimeError(f"gateway request failed: {s.error}")
        sent = httpx.get(f"{stub_root}/_requests", timeout=10).json()[-1]
        sent.pop("stub_deltas", None)
        sent.pop("stub_delay_ms", None)
        direct_body = json.dumps(sent).encode()

        def responses_body(store: bool):
            body = json.dumps({"model": bot_id, "stream": True, "input": text, "store": store}).encode()
            return lambda i: body

        direct = Mode("(a) direct to the stub", direct_client, f"{stub_url}/chat/completions",
                      {"content-type": "application/json"}, lambda i: direct_body)
        chat = Mode("(b) gateway, Chat Completions", chat_client, f"{base}/v1/chat/completions", auth,
                    lambda i: chat_body)
        stored = ResponsesMode("(c) gateway, Responses (store)", resp_client, f"{base}/v1/responses", auth,
                               responses_body(True))
        unstored = ResponsesMode("(d) gateway, Responses (store=false)", resp_client, f"{base}/v1/responses",
                                 auth, responses_body(False))
        modes = [direct, chat, stored, unstored]
        heading(f"Time to first delta ({args.requests} requests per mode, {TTFT_DELTAS} deltas, modes alternate)")
        done = alternate(modes, args.warmup, args.requests, TTFT_DELTAS, time.monotonic() + 120)
        if done < args.requests:
            print(f"  (stopped after {done} rounds: time limit)")
        for mode in modes:
            fail_note(mode)
        print(f"  {'mode':<38} {'n':>4} {'TTFT p50':>10} {'TTFT p95':>10} {'total p50':>10}")
        for mode in modes:
            t = [x.ttft * 1000 for x in mode.ok()]
            tot = [x.total * 1000 for x in mode.ok()]
            print(f"  {mode.name:<38} {len(t):>4} {pct(t, 50):>7.2f} ms {pct(t, 95):>7.2f} ms {pct(tot, 50):>7.2f} ms")
        d = pct([x.ttft * 1000 for x in direct.ok()], 50)
        print()
        for mode, label in ((chat, "Chat Completions"), (stored, "Responses (store)"),
                            (unstored, "Responses (store=false)")):
            g = [x.ttft * 1000 for x in mode.ok()]
            if g:
                line(f"TTFT added by the gateway, p50: {label}", ms(pct(g, 50) - d), "<= 2 ms (ARCHITECTURE.md)",
                     pct(g, 50) - d <= 2.0)
    finally:
        procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
