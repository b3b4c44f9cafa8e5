"""Memory of the local gateway and its embedded store under sustained writes, and restart time.

    .venv/bin/python bench/store_rss.py [--writes 2000] [--bots 100] [--aliases 10] [--ephemeral]

Starts `agentgate dev` (embedded store, a fresh data dir in a temp directory) on a free port,
then makes `--writes` bot writes through the API: `--bots` bots created with `--aliases` aliases
each, then updates and publishes of them in turn. Every one of these writes is one DynamoDB
transaction over the bot and its alias items (agentgate/store/bots.py). It prints the RSS of the
gateway and of the store process before and after, ms per bot write (mean, p50, p95, first and
last 10 %: a store that copies tables per write slows down as they grow), then stops the
gateway and starts it again on the same data dir to time the restart (store restore + ready).

Extending: each measurement is a phase, `def phase(ctx) -> dict[str, str]`, appended to PHASES;
`ctx` has base_url, admin_key, info (dev.json), rss() and the parsed args. A report, not a test:
it exits 0 whatever it finds.
"""

from __future__ import annotations

import argparse
import os
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


def rss_mb(pid: int | None) -> float | None:
    """Resident set size of a process, from /proc (Linux); None if unknown."""
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ctx:
    args: argparse.Namespace
    workdir: Path
    proc: subprocess.Popen | None = None
    info: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.info["base_url"]

    @property
    def admin_key(self) -> str:
        return self.info["admin_key"]

    def rss(self) -> dict[str, float | None]:
        gateway = rss_mb(self.info.get("pid"))
        store = rss_mb(self.info.get("store_pid"))
        return {"gateway": gateway, "store": store}

    def start(self) -> float:
        """Start `agentgate dev` in workdir; returns seconds until it served."""
        cmd = [sys.executable, "-m", "agentgate.local.cli", "dev", "--port", str(_free_port()),
               "--store", "embedded", "--template", str(ROOT / "template.yaml")]
        if self.args.ephemeral:
            cmd.append("--ephemeral")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "AWS_"))}
        env.update(AGENTGATE_ECHO_DELAY_MS="0", PYTHONUNBUFFERED="1")
        log = self.workdir / "gateway.log"
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=open(log, "a"), stderr=subprocess.STDOUT)
        self.info = wait_until_ready(self.proc, self.workdir, log, timeout_s=180)
        return time.perf_counter() - started

    def stop(self) -> float:
        started = time.perf_counter()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.perf_counter() - started


def _fmt(value: float | None, unit: str = "MB") -> str:
    return "n/a" if value is None else f"{value:.1f} {unit}"


def phase_bot_writes(ctx: Ctx) -> dict[str, str]:
    args = ctx.args
    http = httpx.Client(base_url=ctx.base_url, headers={"Authorization": f"Bearer {ctx.admin_key}"}, timeout=120)
    before = ctx.rss()
    times: list[float] = []
    bots: list[str] = []

    def timed(path: str, body: dict) -> dict:
        t0 = time.perf_counter()
        r = http.post(path, json=body)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        return r.json()

    n_bots = min(args.bots, args.writes)
    for i in range(n_bots):
        data = timed("/v1/bot/create", {"name": f"bench bot {i}", "model": "echo",
                                        "aliases": [f"b{i}-alias-{j}" for j in range(args.aliases)]})
        bots.append(data["data"]["bot_id"])
    i = 0
    while len(times) < args.writes:
        bot_id = bots[i % len(bots)]
        if (i // len(bots)) % 2 == 0:
            timed("/v1/bot/publish", {"bot_id": bot_id})
        else:
            timed("/v1/bot/update", {"bot_id": bot_id, "description": f"edit {i}"})
        i += 1
    http.close()
    after = ctx.rss()
    tenth = max(1, len(times) // 10)
    qs = statistics.quantiles(times, n=20)
    return {
        "bot writes": f"{len(times)} ({n_bots} bots x {args.aliases} aliases; each a transaction of "
                      f"{args.aliases + 1} items)",
        "ms per write": f"mean {statistics.mean(times):.1f}, p50 {statistics.median(times):.1f}, "
                        f"p95 {qs[18]:.1f}; first 10% {statistics.mean(times[:tenth]):.1f}, "
                        f"last 10% {statistics.mean(times[-tenth:]):.1f}",
        "gateway RSS": f"{_fmt(before['gateway'])} -> {_fmt(after['gateway'])}",
        "store RSS": f"{_fmt(before['store'])} -> {_fmt(after['store'])}",
    }


def phase_restart(ctx: Ctx) -> dict[str, str]:
    if ctx.args.ephemeral:
        return {"restart": "skipped (--ephemeral keeps nothing)"}
    stop_s = ctx.stop()
    start_s = ctx.start()
    restore = ""
    log = (ctx.workdir / "gateway.log").read_text().splitlines()
    lines = [line for line in log if line.startswith("embedded store:")]
    if lines:
        restore = lines[-1].split("(", 1)[-1].rstrip(")")
    data = Path(ctx.info.get("data_dir") or "")
    size = sum(p.stat().st_size for p in data.glob("store.sqlite3*")) / 1e6 if data.is_dir() else 0
    return {"stop (final flush)": f"{stop_s:.2f} s", "restart until ready": f"{start_s:.2f} s ({restore})",
            "data on disk": f"{size:.1f} MB", "RSS after restart": f"gateway {_fmt(ctx.rss()['gateway'])}, "
                                                                   f"store {_fmt(ctx.rss()['store'])}"}


PHASES = [phase_bot_writes, phase_restart]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--aliases", type=int, default=10)
    parser.add_argument("--ephemeral", action="store_true", help="run the store in memory (no persistence)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agentgate-store-bench-") as tmp:
        ctx = Ctx(args=args, workdir=Path(tmp))
        first_start = ctx.start()
        print(f"agentgate dev ready in {first_start:.2f} s; RSS gateway {_fmt(ctx.rss()['gateway'])}, "
              f"store {_fmt(ctx.rss()['store'])}", flush=True)
        try:
            for phase in PHASES:
                print(f"\n[{phase.__name__.removeprefix('phase_')}]", flush=True)
                for name, value in phase(ctx).items():
                    print(f"  {name:<22} {value}", flush=True)
        finally:
            ctx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
