"""Workflow benchmark: the engine's own overhead per node, and the time to the first Message of a
stream_run against calling the same model directly. A report, not a test: it always exits 0.

    .venv/bin/python bench/workflows.py [--runs 200] [--requests 60]

1. In process: a chain start -> 20 transform nodes -> end, run by the engine with a recorder that
   keeps nothing (the engine's own cost, each node's JMESPath included), then with the durable
   recorder on moto (one PutItem per node), so the per-node cost beyond its store write shows.
   Budget (ARCHITECTURE.md): <= 2 ms per node beyond the node's own store write.
2. Through `agentgate dev`: a published workflow whose llm node uses the bench stub upstream
   (model "bench/stub") and streams as the end's answer; time to the first Message event of
   POST /v1/workflow/stream_run vs time to the first content delta calling the stub directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "shared"))

BUDGET_PER_NODE_MS = 2.0
CHAIN = 20


def chain_document(n: int = CHAIN) -> dict:
    nodes = [{"id": "start", "type": "start"}]
    previous = "start"
    for i in range(n):
        expr = "start.x" if previous == "start" else f"{previous}.v"
        nodes.append({"id": f"t{i}", "type": "transform", "expressions": {"v": expr}})
        previous = f"t{i}"
    nodes.append({"id": "end", "type": "end", "outputs": {"v": f"{{{{{previous}.v}}}}"}})
    return {"name": "chain", "inputs": [{"name": "x", "dataType": "String", "default": "hello"}], "nodes": nodes}


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def part1(runs: int) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from agentgate.workflows import definition
    from agentgate.workflows.engine import Engine

    print(f"1. Engine overhead: start -> {CHAIN} transform nodes -> end ({runs} runs)")
    parsed = definition.parse(chain_document())
    nodes = CHAIN + 2

    async def once(recorder=None) -> float:
        engine = Engine(parsed, owner_id="bench", inputs={"x": "hello"}, recorder=recorder)
        t0 = time.perf_counter()
        async for _ in engine.events():
            pass
        if hasattr(recorder, "flush"):
            await recorder.flush()  # every node record written (they leave the engine's path)
        return time.perf_counter() - t0

    async def many(n, recorder_factory=lambda: None):
        out = []
        for _ in range(n):
            out.append(await once(recorder_factory()))
        return out

    asyncio.run(many(20))  # warm up
    bare = [t * 1000 / nodes for t in asyncio.run(many(runs))]
    print(f"  engine alone, per node:        p50 {pct(bare, 50):.3f} ms   p95 {pct(bare, 95):.3f} ms   "
          f"(budget <= {BUDGET_PER_NODE_MS} ms beyond the store write: {'OK' if pct(bare, 50) <= BUDGET_PER_NODE_MS else 'OVER'})")

    from moto import mock_aws

    with mock_aws():
        from agentgate.store import base
        from agentgate.store import workflows as store
        from agentgate.workflows.runs import StoreRecorder

        base.configure_models()
        base.create_tables()
        run_item = store.create_run("bench", "1", version=1, run_mode=0, inputs={}, deadline_ms=10**15)
        n = max(10, runs // 10)
        durable = [t * 1000 / nodes for t in asyncio.run(many(n, lambda: StoreRecorder(run_item)))]
        writes = []
        for i in range(n * 5):
            t0 = time.perf_counter()
            store.save_node(run_item, node_execute_uuid=str(10**15 + i), node_id="t", node_type="transform",
                            title="t", seq=i, status="Success", node_input="{}", node_output='{"v":"hello"}')
            writes.append((time.perf_counter() - t0) * 1000)
    print(f"  with the durable recorder (moto), run to its last write, per node: p50 {pct(durable, 50):.3f} ms;"
          f" one node write alone: p50 {pct(writes, 50):.3f} ms")
    print(f"  => beyond its store write: p50 {pct(durable, 50) - pct(writes, 50):.3f} ms per node "
          "(writes are queued to one writer, so the engine does not wait for them)")


def part2(requests: int) -> None:
    import httpx

    import run as benchrun  # bench/run.py: the stub and gateway starters

    print(f"\n2. Time to first Message: stream_run through the gateway vs the model directly ({requests} each)")
    procs = benchrun.Procs()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            stub_url = benchrun.start_stub(procs, workdir)
            info, _ = benchrun.start_gateway(procs, workdir, stub_url)
            base, key = info["base_url"], info["admin_key"]
            doc = {"name": "bench", "nodes": [
                {"id": "start", "type": "start"},
                {"id": "ask", "type": "llm", "model": "bench/stub", "prompt": "bench_deltas=20 say something"},
                {"id": "end", "type": "end", "outputs": {"text": "{{ask.text}}"}, "answer": "{{ask.text}}"}]}
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(timeout=30, trust_env=False) as client:
                r = client.post(f"{base}/v1/workflows?publish=true", json=doc, headers=headers)
                wid = r.json()["data"]["workflow_id"]
                direct_body = {"model": "stub", "stream": True,
                               "messages": [{"role": "user", "content": "bench_deltas=20 say something"}]}

                def direct() -> float:
                    t0 = time.perf_counter()
                    with client.stream("POST", f"{stub_url}/chat/completions", json=direct_body) as s:
                        lines = s.iter_lines()
                        for line in lines:
                            if line.startswith("data:") and '"content": "' in line and '"content": ""' not in line:
                                first = time.perf_counter() - t0
                                for _ in lines:
                                    pass
                                return first
                    return float("nan")

                def through() -> float:
                    t0 = time.perf_counter()
                    with client.stream("POST", f"{base}/v1/workflow/stream_run", json={"workflow_id": wid},
                                       headers=headers) as s:
                        event = None
                        lines = s.iter_lines()
                        for line in lines:
                            if line.startswith("event: "):
                                event = line[7:]
                            elif line.startswith("data: ") and event == "Message" and '"content":""' not in line:
                                first = time.perf_counter() - t0
                                for _ in lines:
                                    pass
                                return first
                    return float("nan")

                for _ in range(5):
                    direct(), through()
                d, g = [], []
                for i in range(requests):
                    if i % 2:
                        d.append(direct() * 1000)
                        g.append(through() * 1000)
                    else:
                        g.append(through() * 1000)
                        d.append(direct() * 1000)
            print(f"  direct to the model:     TTFT p50 {pct(d, 50):.2f} ms   p95 {pct(d, 95):.2f} ms")
            print(f"  stream_run (gateway):    first Message p50 {pct(g, 50):.2f} ms   p95 {pct(g, 95):.2f} ms")
            print(f"  added by the workflow path, p50: {pct(g, 50) - pct(d, 50):.2f} ms "
                  "(warm: no store read before the model; the run's and the start node's PutItems overlap it, "
                  "but the embedded moto serves them in the gateway's own process, competing for the GIL)")
    finally:
        procs.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--skip-gateway", action="store_true")
    parser.add_argument("--skip-engine", action="store_true")
    args = parser.parse_args()
    if not args.skip_engine:
        part1(args.runs)
    if not args.skip_gateway:
        part2(args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
