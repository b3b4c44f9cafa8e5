"""agentgate benchmark: the gateway's added latency, streaming behaviour, store round trips per chat
turn and cold start, each against its budget in ARCHITECTURE.md ("Budgets"). A report, not a test:
it always exits 0.

    /tmp/venv/bin/python bench/run.py [--requests 200] [--deltas 50]

One run: a bench stub upstream (bench/stub.py, agentgate's stub with TCP_NODELAY) in a subprocess;
`agentgate dev` in a subprocess on a free port with a named provider "bench" pointing at that stub
and a published bot with model "bench/stub"; then
  1. TTFT and total time, direct to the stub vs through the gateway (modes alternate per request);
  2. per-delta overhead and batching (paced deltas, then a burst);
  3. DynamoDB calls per chat turn (bench/store_calls.py, in a process of its own);
  4. cold import time and RSS of every functions/*/app.py (bench/import_probe.py, fresh processes);
  5. the cold path against its goals (bench/cold_path.py): per function, the entry import with only
     the packages its Lambda has (goal <= 300 ms) and its init work; chat's first turn after a cold
     import and init (echo provider, embedded store; goal <= 400 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from agentgate.local.devserver import wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PY = sys.executable

# ARCHITECTURE.md, "Budgets"
BUDGET_TTFT_ADDED_P50_MS = 5.0
BUDGET_PER_DELTA_MS = 0.1
BUDGET_READS_NO_MEMORY = 2
BUDGET_READS_MEMORY = 3
BUDGET_IMPORT_MS = 300.0
BUDGET_RSS_MB = 120.0

TTFT_DELTAS = 20      # reply length in part 1
BURST_DELTAS = 200    # part 2b: deltas sent back to back
PACED_DELAY_MS = 5    # part 2a: the upstream's gap between deltas
# Part 1 (c): a new memory session every SESSION_TURNS turns. moto's Query cost grows with the
# partition (DynamoDB's does not), so one endless session would measure moto, not the gateway.
SESSION_TURNS = 10
QUESTION = "What is the benchmark measuring today?"


# ------------------------------------------------------------------------------------ output


def verdict(ok: bool) -> str:
    return "PASS" if ok else "OVER"


def line(label: str, value: str, budget: str = "", ok: bool | None = None) -> None:
    tail = f"  budget {budget:<10} {verdict(ok)}" if ok is not None else (f"  ({budget})" if budget else "")
    print(f"  {label:<58} {value:>16}{tail}")


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 96 - len(title)))


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f} ms"


# ------------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "AWS_", "OPENAI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(ROOT / "shared")
    return env


class Procs:
    """Every subprocess this run starts, stopped (by pid, process group) at the end."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)


def start_stub(procs: Procs, workdir: Path) -> str:
    log = open(workdir / "stub.log", "w+")
    proc = procs.start([PY, str(BENCH / "stub.py"), "--port", "0"], env=clean_env(), stdout=log,
                       stderr=subprocess.STDOUT, cwd=workdir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log.seek(0)
        m = re.search(r"stub upstream on (\S+)", log.read())
        if m:
            return m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    raise RuntimeError("the bench stub did not start:\n" + log.read())


def start_gateway(procs: Procs, workdir: Path, stub_url: str) -> tuple[dict, float]:
    env = clean_env()
    env.update(
        AGENTGATE_PROVIDERS=json.dumps({"bench": {"type": "openai", "base_url": stub_url, "api_key": "sk-bench"}}),
        AGENTGATE_ECHO_DELAY_MS="0",
    )
    log = open(workdir / "gateway.log", "w")
    t0 = time.monotonic()
    proc = procs.start([PY, "-m", "agentgate.local.cli", "dev", "--port", str(free_port()), "--store", "embedded",
                        "--template", str(ROOT / "template.yaml")],
                       cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    info = wait_until_ready(proc, workdir, workdir / "gateway.log", timeout_s=90)
    info["pid"] = proc.pid
    return info, time.monotonic() - t0


# ------------------------------------------------------------------------------------ one stream


@dataclass
class Sample:
    ok: bool
    ttft: float = float("nan")    # s, request start -> first content delta
    total: float = float("nan")   # s, request start -> end of stream
    deltas: list[float] = field(default_factory=list)  # arrival time of each content delta (s, from start)
    delta_read: list[int] = field(default_factory=list)  # index of the network read that carried it
    data_frames: int = 0
    reads: int = 0                # socket reads (chunks) that carried the body
    error: str = ""


def stream_once(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> Sample:
    """POST and read the SSE stream, stamping each network read; parse only afterwards."""
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
    buf = b""
    done = False
    for index, (t, chunk) in enumerate(chunks):
        buf += chunk
        while (cut := buf.find(b"\n\n")) >= 0:
            event, buf = buf[:cut], buf[cut + 2:]
            if not event.startswith(b"data:"):
                continue
            payload = event[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            sample.data_frames += 1
            obj = json.loads(payload)
            if obj.get("error"):
                return Sample(False, error=f"error frame: {payload[:200]!r}")
            for choice in obj.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    sample.deltas.append(t - t0)
                    sample.delta_read.append(index)
    if not done or not sample.deltas:
        return Sample(False, error=f"incomplete stream: {raw[-200:]!r}")
    sample.ttft = sample.deltas[0]
    return sample


class Mode:
    def __init__(self, name: str, client: httpx.Client, url: str, headers: dict[str, str], make_body,
                 burst_body=None):
        self.name, self.client, self.url, self.headers, self.make_body = name, client, url, headers, make_body
        self.burst_body = burst_body
        self.samples: list[Sample] = []
        self.failures: list[str] = []

    def run(self, i: int, record: bool, expect_deltas: int | None = None) -> None:
        s = stream_once(self.client, self.url, self.make_body(i), self.headers)
        if s.ok and expect_deltas is not None and len(s.deltas) != expect_deltas:
            s.ok, s.error = False, f"{len(s.deltas)} content deltas, expected {expect_deltas}"
        if not record:
            return
        if s.ok:
            self.samples.append(s)
        else:
            self.failures.append(s.error)

    def ok(self) -> list[Sample]:
        return self.samples


def alternate(modes: list[Mode], warmup: int, n: int, expect: int | None, deadline: float) -> int:
    """Run every mode once per round, rotating the order each round (noise lands on all)."""
    done = 0
    for i in range(warmup + n):
        k = i % len(modes)
        for mode in modes[k:] + modes[:k]:
            mode.run(i, record=i >= warmup, expect_deltas=expect)
        if i >= warmup:
            done += 1
        if time.monotonic() > deadline:
            break
    return done


def fail_note(mode: Mode) -> None:
    if mode.failures:
        print(f"  ! {mode.name}: {len(mode.failures)} failed requests, e.g. {mode.failures[0]}")


# ------------------------------------------------------------------------------------ parts


def part1(direct: Mode, gateway: Mode, memory: Mode, requests: int, warmup: int) -> dict:
    heading(f"1. Time to first token and total time ({requests} requests per mode, {TTFT_DELTAS} deltas, "
            f"modes alternate)")
    done = alternate([direct, gateway, memory], warmup, requests, TTFT_DELTAS, time.monotonic() + 75)
    if done < requests:
        print(f"  (stopped after {done} rounds: time limit)")
    for mode in (direct, gateway, memory):
        fail_note(mode)
    print(f"  {'mode':<32} {'n':>4} {'TTFT p50':>10} {'TTFT p95':>10} {'total p50':>10} {'total p95':>10}")
    for mode in (direct, gateway, memory):
        t = [s.ttft * 1000 for s in mode.ok()]
        tot = [s.total * 1000 for s in mode.ok()]
        print(f"  {mode.name:<32} {len(t):>4} {pct(t, 50):>7.2f} ms {pct(t, 95):>7.2f} ms "
              f"{pct(tot, 50):>7.2f} ms {pct(tot, 95):>7.2f} ms")
    d = [s.ttft * 1000 for s in direct.ok()]
    g = [s.ttft * 1000 for s in gateway.ok()]
    m = [s.ttft * 1000 for s in memory.ok()]
    if not d or not g:
        print("  no successful samples: nothing to compare")
        return {}
    added50, added95 = pct(g, 50) - pct(d, 50), pct(g, 95) - pct(d, 95)
    pairs = [gs.ttft - ds.ttft for gs, ds in zip(gateway.ok(), direct.ok())]
    print()
    line("TTFT added by the gateway, p50 (gateway p50 - direct p50)", ms(added50), "<= 5 ms",
         added50 <= BUDGET_TTFT_ADDED_P50_MS)
    line("TTFT added by the gateway, p95 (gateway p95 - direct p95)", ms(added95), "no budget")
    line("TTFT added, median of per-round differences", ms(statistics.median(pairs) * 1000), "no budget")
    line("TTFT ratio gateway / direct, p50", f"{pct(g, 50) / pct(d, 50):.2f}x", "no budget")
    line("TTFT ratio gateway / direct, p95", f"{pct(g, 95) / pct(d, 95):.2f}x", "no budget")
    if m:
        line("TTFT added with memory (sessionId), p50", ms(pct(m, 50) - pct(d, 50)), "info: +1 Query, writes")
    tg = [s.total * 1000 for s in gateway.ok()]
    td = [s.total * 1000 for s in direct.ok()]
    line("total time added by the gateway, p50", ms(pct(tg, 50) - pct(td, 50)), "no budget")
    return {"direct": pct(d, 50), "gateway": pct(g, 50)}


def part2(direct: Mode, gateway: Mode, deltas: int, rounds: int, burst_rounds: int) -> None:
    heading(f"2. Per-delta overhead and batching ({deltas} deltas {PACED_DELAY_MS} ms apart, then "
            f"{BURST_DELTAS} back to back)")
    alternate([direct, gateway], 2, rounds, deltas, time.monotonic() + 45)
    for mode in (direct, gateway):
        fail_note(mode)
    if not direct.ok() or not gateway.ok():
        print("  no successful samples")
        return

    def gaps(mode: Mode) -> list[float]:
        out = []
        for s in mode.ok():
            out += [(b - a) * 1000 for a, b in zip(s.deltas, s.deltas[1:])]
        return out

    gd, gg = gaps(direct), gaps(gateway)
    print(f"  paced: {len(direct.ok())} + {len(gateway.ok())} streams, {len(gd)} + {len(gg)} inter-arrival gaps")
    line("median inter-arrival gap, direct", ms(statistics.median(gd), 3), f"upstream gap {PACED_DELAY_MS} ms")
    line("median inter-arrival gap, gateway", ms(statistics.median(gg), 3), f"upstream gap {PACED_DELAY_MS} ms")
    line("p5 / p95 gap, gateway", f"{pct(gg, 5):.2f}/{pct(gg, 95):.2f} ms", "")
    batched_g = sum(1 for x in gg if x < 1.0)
    batched_d = sum(1 for x in gd if x < 1.0)
    late = 0
    for s in gateway.ok():
        g = [(b - a) * 1000 for a, b in zip(s.deltas, s.deltas[1:])]
        late += sum(1 for prev, cur in zip(g, g[1:]) if cur < 1.0 and prev > 1.5 * PACED_DELAY_MS)
    line("gateway deltas arriving batched (gap < 1 ms)", f"{batched_g} of {len(gg)}", "0", batched_g == 0)
    if batched_g:
        line("  of which right after a late delta (gap > 1.5x upstream's)", f"{late} of {batched_g}",
             "a stall caught up, not merging")
    line("direct deltas arriving < 1 ms apart (reference: noise)", f"{batched_d} of {len(gd)}", "")
    same_read = sum(1 for s in gateway.ok() for a, b in zip(s.delta_read, s.delta_read[1:]) if a == b)
    line("gateway deltas in the same network read as the previous", f"{same_read} of {len(gg)}", "0", same_read == 0)
    frames_ok = all(len(s.deltas) == deltas for s in gateway.ok())
    line("content frames per gateway stream (upstream sent %d)" % deltas,
         "/".join(sorted({str(len(s.deltas)) for s in gateway.ok()})), f"= {deltas}", frames_ok)
    tot_d = statistics.median(s.total for s in direct.ok()) * 1000
    tot_g = statistics.median(s.total for s in gateway.ok()) * 1000
    line("added per delta, paced: (total gw - total direct) / deltas", ms((tot_g - tot_d) / deltas, 3),
         "<= 0.1 ms", (tot_g - tot_d) / deltas <= BUDGET_PER_DELTA_MS)
    span_d = statistics.median(s.deltas[-1] - s.deltas[0] for s in direct.ok()) * 1000
    span_g = statistics.median(s.deltas[-1] - s.deltas[0] for s in gateway.ok()) * 1000
    per_span = (span_g - span_d) / (deltas - 1)
    line("  same, first-to-last delta only (TTFT excluded)", ms(per_span, 3), "<= 0.1 ms",
         per_span <= BUDGET_PER_DELTA_MS)

    # Burst: the upstream writes every delta at once; the gateway's per-delta CPU cost accumulates.
    bd = Mode("direct burst", direct.client, direct.url, direct.headers, direct.burst_body)
    bg = Mode("gateway burst", gateway.client, gateway.url, gateway.headers, gateway.burst_body)
    alternate([bd, bg], 3, burst_rounds, BURST_DELTAS, time.monotonic() + 30)
    for mode in (bd, bg):
        fail_note(mode)
    if bd.ok() and bg.ok():
        print(f"  burst: {len(bd.ok())} + {len(bg.ok())} streams of {BURST_DELTAS} deltas")
        tot_d = statistics.median(s.total for s in bd.ok()) * 1000
        tot_g = statistics.median(s.total for s in bg.ok()) * 1000
        line("stream total p50, direct / gateway", f"{tot_d:.1f}/{tot_g:.1f} ms", "")
        per = (tot_g - tot_d) / BURST_DELTAS
        line("added per delta, burst: (total gw - total direct) / deltas", ms(per, 3), "<= 0.1 ms",
             per <= BUDGET_PER_DELTA_MS)
        span_d = statistics.median(s.deltas[-1] - s.deltas[0] for s in bd.ok()) * 1000
        span_g = statistics.median(s.deltas[-1] - s.deltas[0] for s in bg.ok()) * 1000
        per_span = (span_g - span_d) / (BURST_DELTAS - 1)
        line("  same, first-to-last delta only (TTFT excluded)", ms(per_span, 3), "<= 0.1 ms",
             per_span <= BUDGET_PER_DELTA_MS)
        line("content frames per gateway stream (upstream sent %d)" % BURST_DELTAS,
             "/".join(sorted({str(len(s.deltas)) for s in bg.ok()})), f"= {BURST_DELTAS}",
             all(len(s.deltas) == BURST_DELTAS for s in bg.ok()))
        reads_d = statistics.median(s.reads for s in bd.ok())
        reads_g = statistics.median(s.reads for s in bg.ok())
        line("client socket reads per burst stream, direct / gateway", f"{reads_d:.0f}/{reads_g:.0f}",
             "TCP coalescing, not batching")


def part3(info: dict, stub_url: str, bot_id: str, ttft: dict) -> dict | None:
    heading("3. DynamoDB calls per chat turn (chat app in process, store = the gateway's moto)")
    env = clean_env()
    env.update(
        AGENTGATE_DYNAMODB_ENDPOINT=info["dynamodb_endpoint"], AGENTGATE_S3_ENDPOINT=info.get("s3_endpoint", ""),
        AWS_ACCESS_KEY_ID="agentgate-local", AWS_SECRET_ACCESS_KEY="agentgate-local",
        AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1", POWERTOOLS_LOG_LEVEL="WARNING",
        AGENTGATE_PROVIDERS=json.dumps({"bench": {"type": "openai", "base_url": stub_url, "api_key": "sk-bench"}}),
    )
    try:
        proc = subprocess.run([PY, str(BENCH / "store_calls.py"), stub_url, bot_id, info.get("owner_id", "local"),
                               info["admin_key"]], env=env, capture_output=True, text=True, timeout=90)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001 - a report: say what failed and go on
        print(f"  ! store-call measurement failed: {exc!r}")
        return None
    if "fatal" in out:
        print(f"  ! store-call measurement failed: {out['fatal']}\n{out.get('traceback', '')}")
        return None
    for err in out.get("errors", [])[:3]:
        print(f"  ! {err}")
    sc = out["scenarios"]

    def med(runs, key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(vals) if vals else float("nan")

    print(f"  {'turn (median of 5, no memory: of 20)':<40} {'reads before':>12} {'writes before*':>14} "
          f"{'total':>6}  operations")
    for name, runs in sc.items():
        ops = runs[-1]["ops"]
        print(f"  {name:<40} {med(runs, 'before_reads'):>12.0f} {med(runs, 'before_writes'):>14.0f} "
              f"{med(runs, 'total'):>6.0f}  {', '.join(f'{k} {v}' for k, v in sorted(ops.items()))}")
    print("  * writes that happen to start before the upstream request arrives run in the background "
          "(not awaited before the model call)")
    nm, mem = sc.get("openai, no memory"), sc.get("openai + sessionId, continued")
    new = sc.get("openai + sessionId, new session")
    if nm:
        r = max(x["before_reads"] for x in nm)
        line("reads before the first upstream byte, no memory (max of 20)", str(r), "<= 2", r <= BUDGET_READS_NO_MEMORY)
    if mem:
        r = max(x["before_reads"] for x in mem + (new or []))
        line("reads before the first upstream byte, with memory (max)", str(r), "<= 3", r <= BUDGET_READS_MEMORY)
    if nm:
        line("store calls per turn, no memory", f"{med(nm, 'total'):.0f}", "no budget")
    if mem:
        line("store calls per turn, with memory (continued session)", f"{med(mem, 'total'):.0f}", "no budget")
    if new:
        line("store calls per turn, with memory (new session)", f"{med(new, 'total'):.0f}", "no budget")
    auth = out.get("authorizer") or []
    if auth:
        ops = [" + ".join(a["ops"]) or "none" for a in auth]
        line("authorizer on a cache miss (1st / 2nd / 3rd call)", "; ".join(ops), "cached 300 s by API GW")
    first_turn = out.get("first_turn")
    if out.get("init_ms") is not None:
        line("chat's init hooks (imports + clients, paid in Lambda's init)", ms(out["init_ms"], 0), "no budget")
    if first_turn and first_turn.get("to_first_byte_ms") is not None:
        line("chat's first turn after a cold import: request -> first byte", ms(first_turn["to_first_byte_ms"], 0),
             "<= 400 ms", first_turn["to_first_byte_ms"] <= 400)
        line("  of which request -> upstream reached", ms(first_turn["to_upstream_ms"] or float("nan"), 0),
             "pynamodb/botocore, openai SDK")
    nm_runs = sc.get("openai, no memory")
    if nm_runs:
        calls = [c for r in nm_runs for c in r["call_ms"]]
        reads, to_up = med(nm_runs, "read_ms_before"), med(nm_runs, "to_upstream_ms")
        up_first, first = med(nm_runs, "upstream_to_first_byte_ms"), med(nm_runs, "to_first_byte_ms")
        to_runner = med(nm_runs, "to_runner_ms")
        print("  Where the time to first token goes, no memory, medians. 'In process': the chat app driven over ASGI "
              "in a child\n  process (no HTTP server, no authorizer); moto serves from the gateway's process over HTTP.")
        rows = [
            ("store reads before the upstream call", reads,
             f"the bot's GetItem; one moto call p50 {pct(calls, 50):.2f} ms"),
            ("parse, validate, prepare the turn", to_runner - reads, "route work before the runner, reads excluded"),
            ("runner + openai SDK until upstream reached", to_up - to_runner,
             "provider lookup, prompt, SDK builds + sends the request"),
            ("upstream reached -> first byte out", up_first, "stub's reply start, SSE parse, queue, render"),
            ("= in process, request -> first byte", first, ""),
        ]
        if ttft:
            rows += [("through the gateway over HTTP (part 1)", ttft["gateway"],
                      "+ client, uvicorn (h11), routing, authorizer cache"),
                     ("direct to the stub (part 1)", ttft["direct"], "")]
        for label, value, note in rows:
            print(f"    {label:<44} {value:7.2f} ms  {note}")
    mem_runs = sc.get("openai + sessionId, continued")
    if mem_runs:
        print(f"    with memory (continued session): request -> upstream {med(mem_runs, 'to_upstream_ms'):.2f} ms, "
              f"of which store reads {med(mem_runs, 'read_ms_before'):.2f} ms (GetItem then Query)")
    rss = out.get("maxrss_kb", 0) / 1024
    line("chat process peak RSS after the chat turns (before the authorizer)", f"{rss:.1f} MB", "<= 120 MB",
         rss <= BUDGET_RSS_MB)
    stages = out.get("rss_kb") or {}
    if stages:
        print("    RSS on the way: " + "; ".join(f"{k} {v / 1024:.0f} MB" for k, v in stages.items()))
        print("    (the Lambda function also runs uvicorn (~3 MB) and has no bench code; boto3/botocore's "
              "memory counts there too)")
    return out


def part4(procs_runs: int) -> None:
    heading(f"4. Cold start: import of each functions/*/app.py (median of {procs_runs} fresh processes)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "POWERTOOLS_SERVICE_NAME": "agentgate", "POWERTOOLS_LOG_LEVEL": "INFO"}
    # Lambda-like: no PYTHONPATH from the shell; the probe puts the function dir and shared/ first.
    targets = [(p.parent.name, p.parent, False) for p in sorted((ROOT / "functions").glob("*/app.py"))]
    if (ROOT / "functions" / "chat" / "run.sh").exists():
        targets.append(("chat (run.sh: uvicorn + app)", ROOT / "functions" / "chat", True))

    def probe(fn_dir: Path, uvicorn: bool, importtime: bool = False):
        cmd = [PY] + (["-X", "importtime"] if importtime else []) + [str(BENCH / "import_probe.py"), str(fn_dir)]
        if uvicorn:
            cmd.append("--with-uvicorn")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr

    baseline = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", "pass"], env=env, check=False)
        baseline.append((time.perf_counter() - t0) * 1000)
    bare = subprocess.run([PY, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import import_probe; "
                           "print(import_probe.peak_rss_kb())", str(BENCH)],
                          env=env, capture_output=True, text=True).stdout.strip() or "0"
    print(f"  (for scale: a bare interpreter starts in {statistics.median(baseline):.0f} ms wall and peaks at "
          f"{int(bare) / 1024:.1f} MB RSS; neither is counted below)")
    print(f"  {'function':<30} {'import p50':>10} {'min':>8} {'max':>8} {'modules':>8} {'RSS':>9}  "
          f"budgets: import <= 300 ms, RSS <= 120 MB, no network")
    results = {}
    for name, fn_dir, uvicorn in targets:
        runs = []
        for _ in range(procs_runs):
            try:
                runs.append(probe(fn_dir, uvicorn)[0])
            except Exception as exc:  # noqa: BLE001
                print(f"  ! {name}: {exc!r}")
                break
        if not runs:
            continue
        t = [r["import_ms"] for r in runs]
        rss = max(r["maxrss_kb"] for r in runs) / 1024
        net = sorted({n for r in runs for n in r["network"]})
        results[name] = (statistics.median(t), fn_dir, uvicorn)
        ok_t, ok_r = statistics.median(t) <= BUDGET_IMPORT_MS, rss <= BUDGET_RSS_MB
        print(f"  {name:<30} {statistics.median(t):>7.0f} ms {min(t):>5.0f} ms {max(t):>5.0f} ms "
              f"{runs[0]['modules']:>8} {rss:>6.1f} MB  import {verdict(ok_t)}, RSS {verdict(ok_r)}, "
              f"network {'none PASS' if not net else 'OVER: ' + ', '.join(net[:3])}")
    if not results:
        return
    slowest = max((k for k in results if not results[k][2]), key=lambda k: results[k][0])
    shown = [slowest] + (["chat"] if "chat" in results and slowest != "chat" else [])
    print("  Top 5 packages by import time (python -X importtime, one more run each; self time summed per "
          "top-level package,\n  and the package's largest cumulative import, which includes what it pulls in):")
    for name in shown:
        _, fn_dir, uvicorn = results[name]
        _, stderr = probe(fn_dir, uvicorn, importtime=True)
        top = importtime_top(stderr)
        total = sum(r[1] for r in top) / 1000
        print(f"  {name}{' (slowest)' if name == slowest else ''}: {total:.0f} ms of imports under -X importtime")
        for pkg, self_us, cum_us, cum_name in top[:5]:
            print(f"    {pkg:<16} self {self_us / 1000:7.1f} ms   largest cumulative {cum_us / 1000:7.1f} ms  "
                  f"({cum_name})")


def part5(runs: int) -> None:
    heading("5. Cold path: entry import (only the function's Lambda packages) and init, chat's first turn")
    sys.path.insert(0, str(BENCH))
    import cold_path

    cold_path.report(runs)


def importtime_top(stderr: str) -> list[tuple[str, int, int, str]]:
    inside = False
    by_pkg: dict[str, list] = {}
    for row in stderr.splitlines():
        if row.startswith("### bench import start"):
            inside = True
            continue
        if row.startswith("### bench import end"):
            break
        if not inside or not row.startswith("import time:"):
            continue
        parts = row[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        self_us, cum_us, name = int(parts[0]), int(parts[1]), parts[2].strip()
        pkg = name.split(".")[0]
        entry = by_pkg.setdefault(pkg, [0, 0, ""])
        entry[0] += self_us
        if cum_us > entry[1]:
            entry[1], entry[2] = cum_us, name
    rows = [(pkg, v[0], v[1], v[2]) for pkg, v in by_pkg.items()]
    return sorted(rows, key=lambda r: -r[1])


# ------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description="agentgate benchmark (a report; always exits 0)")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per mode in part 1")
    parser.add_argument("--deltas", type=int, default=50, help="deltas per stream in part 2 (paced)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--import-runs", type=int, default=5, help="fresh processes per function in part 4")
    parser.add_argument("--skip", default="", help="comma list of parts to skip, e.g. 4")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    deltas = max(2, args.deltas)

    started = time.monotonic()
    print(f"agentgate benchmark  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("Budgets: ARCHITECTURE.md. A shared, noisy machine: compare within this run, not across runs.")
    procs = Procs()
    workdir = Path(tempfile.mkdtemp(prefix="agentgate-bench-"))
    try:
        if not skip >= {"1", "2", "3"}:
            ttft: dict = {}
            stub_url = start_stub(procs, workdir)
            info, boot_s = start_gateway(procs, workdir, stub_url)
            base = info["base_url"]
            print(f"stub {stub_url} (TCP_NODELAY)  gateway {base} (ready in {boot_s:.1f} s)  workdir {workdir}")
            auth = {"Authorization": f"Bearer {info['admin_key']}", "content-type": "application/json"}
            with httpx.Client(timeout=30) as admin:
                r = admin.post(f"{base}/v1/bot/create", headers=auth, json={
                    "name": "bench bot", "prompt_info": {"prompt": "You are the benchmark bot."},
                    "model": "bench/stub", "memory_window": 10})
                r.raise_for_status()
                bot_id = r.json()["data"]["bot_id"]
                admin.post(f"{base}/v1/bot/publish", headers=auth, json={"bot_id": bot_id}).raise_for_status()

            # Separate keep-alive clients so neither mode reuses the other's connection.
            direct_client = httpx.Client(timeout=30)
            gateway_client = httpx.Client(timeout=30)
            json_h = {"content-type": "application/json"}
            stub_root = stub_url.rsplit("/v1", 1)[0]

            def gw_body(text: str, session=None):
                def make(i: int) -> bytes:
                    body = {"model": bot_id, "stream": True, "stream_options": {"include_usage": True},
                            "messages": [{"role": "user", "content": f"{QUESTION} {text}"}]}
                    if session:
                        body["sessionId"] = session(i)
                    return json.dumps(body).encode()
                return make

            def upstream_body_for(text: str):
                """Exactly what the gateway sends the stub for this bot and question (captured)."""
                httpx.delete(f"{stub_root}/_requests", timeout=10)
                s = stream_once(gateway_client, f"{base}/v1/chat/completions", gw_body(text)(0), auth)
                if not s.ok:
                    raise RuntimeError(f"gateway request failed: {s.error}")
                sent = httpx.get(f"{stub_root}/_requests", timeout=10).json()[-1]
                sent.pop("stub_deltas", None)  # added by the bench stub from the text knob
                sent.pop("stub_delay_ms", None)
                body = json.dumps(sent).encode()
                return lambda i: body

            if "1" not in skip:
                text = f"bench_deltas={TTFT_DELTAS}"
                direct = Mode("(a) direct to the stub", direct_client, f"{stub_url}/chat/completions", json_h,
                              upstream_body_for(text))
                gateway = Mode("(b) through the gateway", gateway_client, f"{base}/v1/chat/completions", auth,
                               gw_body(text))
                memory = Mode("(c) gateway + sessionId (memory)", gateway_client, f"{base}/v1/chat/completions",
                              auth, gw_body(text, session=lambda i: f"bench-{os.getpid()}-{i // SESSION_TURNS}"))
                ttft = part1(direct, gateway, memory, args.requests, args.warmup)

            if "2" not in skip:
                paced = f"bench_deltas={deltas} bench_delay_ms={PACED_DELAY_MS}"
                burst = f"bench_deltas={BURST_DELTAS}"
                d2 = Mode("direct paced", direct_client, f"{stub_url}/chat/completions", json_h,
                          upstream_body_for(paced), burst_body=upstream_body_for(burst))
                g2 = Mode("gateway paced", gateway_client, f"{base}/v1/chat/completions", auth,
                          gw_body(paced), burst_body=gw_body(burst))
                part2(d2, g2, deltas, rounds=max(10, args.requests // 10), burst_rounds=max(10, args.requests // 5))

            direct_client.close()
            gateway_client.close()
            if "3" not in skip:
                part3(info, stub_url, bot_id, ttft)
        if "4" not in skip:
            part4(args.import_runs)
        if "5" not in skip:
            part5(args.import_runs)
    except Exception as exc:  # noqa: BLE001 - a report: print the failure, exit 0
        import traceback

        print(f"\n! benchmark aborted: {exc!r}")
        traceback.print_exc(file=sys.stdout)
    finally:
        procs.stop_all()
    print(f"\n(done in {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
