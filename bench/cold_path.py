"""The cold path, per function, against the goals of issue 10 (point 9), on this machine:

    .venv/bin/python bench/cold_path.py [--runs 5]

For every functions/*/app.py, in fresh processes (median of --runs):
  * entry import: exec of the entry module, sys.path as in Lambda (the function folder, then
    shared/ as /opt/python), and only the packages the function would have there: the Lambda
    runtime's own (boto3, botocore, s3transfer, urllib3, python-dateutil, six, jmespath), the
    standard library and the packages of the function's layers' locks (template.yaml). Anything
    else this venv holds (awscrt, pyOpenSSL, moto, httpx...) is blocked, since botocore and
    others import them when present. Goal: <= 300 ms.
  * init: the function's init hooks (agentgate.lifecycle), which Lambda runs in its init phase
    or before the SnapStart snapshot: imports and clients the first request would otherwise pay.
Two reference rows give the floor of the named stack: bench/reference_app, a one-route FastAPI
app behind Mangum with one PynamoDB model, imported the same way, without and with
agentgate.api.lean_fastapi (which every agentgate app imports first).
For chat, also the first turn after that cold import and init (echo provider, the embedded store:
moto in its own process, an HTTP round trip per call, as DynamoDB is): request -> first byte and
request -> end, and a second turn for comparison. Goal: first turn <= 400 ms.

Caveats printed with the numbers: this machine's Python (Lambda: 3.13), 2 shared cores; a 1024 MB
function gets ~0.58 vCPU, so Lambda's own figures are higher than these.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PY = sys.executable
GOAL_IMPORT_MS = 300.0
GOAL_FIRST_TURN_MS = 400.0
RUNTIME_SHIPS = ["boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six", "jmespath"]
LOCKS = {"AgentgateLayer": "shared/requirements.txt", "ExtractLayer": "shared/requirements-extract.txt",
         "KnowledgeLayer": "shared/requirements-knowledge.txt", "ModelLayer": "shared/requirements-model.txt"}


# ------------------------------------------------------------------------------------ what Lambda has


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def function_layers() -> dict[str, tuple[str, list[str]]]:
    """functions/<dir> -> (logical id, its layers' names), from template.yaml."""
    from agentgate.local.template import _CfnLoader
    import yaml

    doc = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506
    glob = [layer["Ref"] for layer in doc["Globals"]["Function"].get("Layers", []) if "Ref" in layer]
    out = {}
    for name, res in doc["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        layers = glob + [layer["Ref"] for layer in props.get("Layers", []) if isinstance(layer, dict) and "Ref" in layer]
        folder = Path(props["CodeUri"]).name
        out.setdefault(folder, (name, layers))
    return out


def allowed_modules(layers: list[str]) -> list[str]:
    """Top-level modules of the distributions the function has in Lambda (runtime + layers)."""
    from importlib.metadata import packages_distributions

    dists = {_norm(d) for d in RUNTIME_SHIPS}
    for layer in layers:
        lock = LOCKS.get(layer)
        if lock:
            dists |= {_norm(n) for n in re.findall(r"^([A-Za-z0-9._-]+)==", (ROOT / lock).read_text(), re.M)}
    return sorted(m for m, ds in packages_distributions().items() if any(_norm(d) in dists for d in ds))


def blocked_modules(layers: list[str]) -> list[str]:
    """Installed top-level modules the function would NOT have in Lambda (not stdlib)."""
    from importlib.metadata import packages_distributions

    allowed = set(allowed_modules(layers)) | {"agentgate"}
    return sorted(m for m in packages_distributions() if m not in allowed and not m.startswith("_")
                  and m not in sys.stdlib_module_names)


# ------------------------------------------------------------------------------------ child


def child(fn_dir: Path, blocked: list[str], turn: dict | None) -> dict:
    import importlib.abc

    class LambdaLike(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked_set:
                raise ModuleNotFoundError(f"No module named {name!r} (not in this function's Lambda)", name=name)
            return None

    blocked_set = set(blocked)
    sys.meta_path.insert(0, LambdaLike())
    sys.path[:0] = [str(fn_dir), str(ROOT / "shared")]
    import importlib.util

    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", fn_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    import_ms = (time.perf_counter() - t0) * 1000
    import_openai = "openai" in sys.modules
    from agentgate import lifecycle

    t1 = time.perf_counter()
    if not (turn and turn.get("skip_init")):
        lifecycle.run_init_hooks()
    init_ms = (time.perf_counter() - t1) * 1000
    out = {"import_ms": import_ms, "init_ms": init_ms, "modules": len(sys.modules),
           "model_sdk_loaded": "openai" in sys.modules, "pynamodb_loaded": "pynamodb" in sys.modules,
           "import_model_sdk_loaded": import_openai}
    if turn:
        sys.path.insert(0, str(BENCH))
        from store_calls import asgi_turn

        context = json.dumps({"authorizer": {"key_id": "bench", "owner_id": turn["owner_id"], "scopes": "chat"}})
        body = {"model": turn["bot_id"], "stream": True, "messages": [{"role": "user", "content": "hello there"}]}

        async def two_turns():
            runs = []
            for _ in range(2):
                before = set(sys.modules)
                r = await asgi_turn(module.app, "/v1/chat/completions", body, context)
                if not runs:
                    out["imported_by_first_turn"] = sorted(set(sys.modules) - before)
                first = r["bodies"][0][0] if r["bodies"] else None
                text = b"".join(b for _, b in r["bodies"])
                runs.append({"status": r["status"], "ok": b"[DONE]" in text,
                             "first_byte_ms": (first - r["t0"]) / 1e6 if first else None,
                             "total_ms": (r["t_end"] - r["t0"]) / 1e6})
            return runs

        out["turns"] = asyncio.run(two_turns())
        out["model_sdk_loaded_after_turn"] = "openai" in sys.modules
    return out


# ------------------------------------------------------------------------------------ parent


def _env(extra: dict | None = None) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "agentgate-local", "AWS_SECRET_ACCESS_KEY": "agentgate-local",
           "POWERTOOLS_SERVICE_NAME": "agentgate", "POWERTOOLS_LOG_LEVEL": "WARNING",
           "POWERTOOLS_METRICS_DISABLED": "true", "AGENTGATE_ECHO_DELAY_MS": "0", "PYTHONPATH": str(ROOT / "shared")}
    env.update(extra or {})
    return env


def run_child(fn_dir: Path, blocked: list[str], turn: dict | None, env: dict) -> dict:
    arg = json.dumps({"fn_dir": str(fn_dir), "blocked": blocked, "turn": turn})
    proc = subprocess.run([PY, __file__, "--child", arg], env=env, capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{fn_dir.name}: exit {proc.returncode}: {proc.stderr[-1500:]}")
    return json.loads(lines[-1])


def prepare_store():
    """The embedded store (moto in its own process) with the tables and one published echo bot."""
    from agentgate.local import embedded

    store = embedded.start_store(None)
    embedded.use_endpoints(store.endpoint, store.info.get("s3_endpoint") or store.endpoint)
    embedded.fake_credentials()
    embedded.ensure_storage(embedded=True)
    from agentgate.store import bots

    bot = bots.create_bot("bench", {"name": "cold path", "model": "echo", "prompt": "Be brief."}, [])
    bots.publish_bot("bench", bot.bot_id)
    return store, {"owner_id": "bench", "bot_id": bot.bot_id}


def report(runs: int = 5) -> dict:
    """Print the table; returns {function: {import_ms, init_ms[, first_turn_ms]}}."""
    print(f"  Python {sys.version.split()[0]} here (Lambda: 3.13), {os.cpu_count()} shared cores; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}. Median of {runs} fresh processes;")
    print("  packages outside the function's Lambda (runtime + its layers' locks) are blocked.")
    layers = function_layers()
    store, turn = prepare_store()
    results: dict[str, dict] = {}
    try:
        env = _env({"AGENTGATE_DYNAMODB_ENDPOINT": os.environ["AGENTGATE_DYNAMODB_ENDPOINT"],
                    "AGENTGATE_S3_ENDPOINT": os.environ.get("AGENTGATE_S3_ENDPOINT", "")})
        print(f"  {'function':<15} {'entry import':>12} {'goal':>6}  {'init hooks':>10}  {'modules':>7}  "
              f"openai loaded at import / after init")
        # Rows take turns run by run, so a change of load on this shared machine touches them all alike.
        # The reference rows are the floor: an app that is only FastAPI + Mangum + one PynamoDB model.
        reference = {"reference": "0", "reference+lean": "1"}
        probes = [(folder, ROOT / "functions" / folder, blocked_modules(layers[folder][1]), env)
                  for folder in sorted(layers) if (ROOT / "functions" / folder / "app.py").exists()]
        probes += [(label, BENCH / "reference_app", blocked_modules(layers["bots"][1]),
                    {**env, "BENCH_LEAN_FASTAPI": lean}) for label, lean in reference.items()]
        rows: dict[str, list[dict]] = {label: [] for label, *_ in probes}
        failed: set[str] = set()
        for _ in range(runs):
            for label, fn_dir, blocked, probe_env in probes:
                if label in failed:
                    continue
                try:
                    rows[label].append(run_child(fn_dir, blocked, None, probe_env))
                except Exception as exc:  # noqa: BLE001 - a report
                    print(f"  ! {label}: {exc}")
                    failed.add(label)
        for label, *_ in probes:
            if not rows[label]:
                continue
            imp = statistics.median(r["import_ms"] for r in rows[label])
            first = rows[label][0]
            verdict = "PASS" if imp <= GOAL_IMPORT_MS else "OVER"
            if label in reference:
                results[label] = {"import_ms": imp}
                lean = ", with agentgate.api.lean_fastapi" if reference[label] == "1" else ""
                print(f"  {label:<15} {imp:>9.0f} ms {verdict:>6}  {'':>10}  {first['modules']:>7}  "
                      f"(one FastAPI route + Mangum + one PynamoDB model{lean})")
                continue
            ini = statistics.median(r["init_ms"] for r in rows[label])
            results[label] = {"import_ms": imp, "init_ms": ini}
            print(f"  {label:<15} {imp:>9.0f} ms {verdict:>6}  {ini:>7.0f} ms  {first['modules']:>7}  "
                  f"{'yes' if first['import_model_sdk_loaded'] else 'no'} / {'yes' if first['model_sdk_loaded'] else 'no'}")
        # chat: the first turn after the cold import and init
        blocked = blocked_modules(layers["chat"][1])
        turns = []
        for _ in range(runs):
            try:
                turns.append(run_child(ROOT / "functions" / "chat", blocked, turn, env))
            except Exception as exc:  # noqa: BLE001
                print(f"  ! chat first turn: {exc}")
                break
        if turns:
            bad = [t for t in turns for x in t["turns"] if not x["ok"]]
            if bad:
                print(f"  ! {len(bad)} turns failed: {bad[0]['turns']}")
            first = statistics.median(t["turns"][0]["first_byte_ms"] or float("nan") for t in turns)
            first_total = statistics.median(t["turns"][0]["total_ms"] for t in turns)
            second = statistics.median(t["turns"][1]["first_byte_ms"] or float("nan") for t in turns)
            imp = statistics.median(t["import_ms"] for t in turns)
            ini = statistics.median(t["init_ms"] for t in turns)
            results.setdefault("chat", {}).update(first_turn_ms=first, first_turn_total_ms=first_total,
                                                 second_turn_ms=second)
            print(f"  chat, first turn after a cold import and init (echo, embedded store):")
            print(f"    request -> first byte {first:7.0f} ms   goal <= {GOAL_FIRST_TURN_MS:.0f} ms  "
                  f"{'PASS' if first <= GOAL_FIRST_TURN_MS else 'OVER'}   (request -> end {first_total:.0f} ms)")
            print(f"    second turn, request -> first byte {second:.0f} ms; that process: import {imp:.0f} ms, "
                  f"init {ini:.0f} ms (paid in Lambda's init, before any request)")
            try:
                cold = run_child(ROOT / "functions" / "chat", blocked, {**turn, "skip_init": True}, env)
                print(f"    for comparison, the first turn when no init hook runs (the work on the request path): "
                      f"{cold['turns'][0]['first_byte_ms']:.0f} ms to the first byte")
                results["chat"]["first_turn_no_init_ms"] = cold["turns"][0]["first_byte_ms"]
            except Exception as exc:  # noqa: BLE001
                print(f"  ! chat first turn without init: {exc}")
    finally:
        store.stop()
    return results


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        arg = json.loads(sys.argv[2])
        print(json.dumps(child(Path(arg["fn_dir"]), arg["blocked"], arg["turn"])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("== cold path: entry import and init per function, chat's first turn ==")
    report(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
