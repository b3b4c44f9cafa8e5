"""The README's quick start ("Calling the API"), as written, survives a restart of `agentgate dev`.

The test reads the section's bash and Python blocks out of README.md and runs them: the only
change is the base URL (the gateway runs on a free port, not 9527). Then it stops the gateway
(SIGTERM, as Ctrl-C), starts it again in the same directory (the same `.agentgate/data/`), and runs
the blocks' chat paragraphs and the Python block again with the variables the first run set: the
root key in dev.json, the application key, the bot (by id and by its alias `main`) and the
conversation, whose history came back too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
README_BASE = "http://127.0.0.1:9527"


def _blocks() -> tuple[str, str]:
    text = README.read_text()
    section = text[text.index("## Calling the API\n"):]
    section = section[:section.index("\n## ", 1)]
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return bash, python


def _paragraph(bash: str, comment: str) -> str:
    """The bash block's paragraph (blank-line separated) that starts with `# <comment>`."""
    found = [p for p in bash.split("\n\n") if p.startswith(f"# {comment}")]
    assert len(found) == 1, comment
    return found[0]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "AWS_", "COZE_"))}


def _bash(script: str, base_url: str, workdir: Path, env: dict | None = None) -> str:
    script = script.replace(README_BASE, base_url)
    if not script.startswith("BASE="):
        script = f"BASE={base_url}\n{script}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, env={**_env(), **(env or {})},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def _python(block: str, base_url: str, workdir: Path, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", block.replace(README_BASE, base_url)], cwd=workdir,
                          env={**_env(), **env, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def _sse_data(out: str) -> list[dict]:
    return [json.loads(line[5:]) for line in out.splitlines()
            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]", '"[DONE]"')]


def _openai_text(out: str) -> str:
    assert out.rstrip().endswith("data: [DONE]"), out
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in _sse_data(out) if c.get("choices"))


def _coze_answer(out: str) -> tuple[str, str]:
    """(conversation id, the completed answer) of a Coze v3 stream."""
    events = re.findall(r"^event:\s*(\S+)\ndata:(.*)$", out, re.M)
    names = [name for name, _ in events]
    assert names[-1] == "done" and "conversation.chat.completed" in names, names
    answers = [json.loads(data) for name, data in events if name == "conversation.message.completed"]
    answer = [m for m in answers if m.get("type") == "answer"][0]
    return answer["conversation_id"], answer["content"]


def test_the_readme_quick_start_survives_a_restart(tmp_path, launch_gateway):
    bash, python = _blocks()
    workdir = tmp_path / "project"
    workdir.mkdir()
    first = launch_gateway(workdir)
    try:
        # the whole block, in order, then the variables it set
        out = _bash(bash + '\necho "QUICKSTART KEY=$KEY APP_KEY=$APP_KEY BOT=$BOT CONV=$CONV"\n',
                    first.gateway.base_url, workdir)
        made = dict(pair.split("=", 1) for pair in out.rsplit("QUICKSTART ", 1)[1].split())
        assert made["KEY"] == first.gateway.admin_key and made["APP_KEY"].startswith("pat_")
        assert made["BOT"].isdigit() and made["CONV"].isdigit()
        assert "Echo: hello" in _openai_text(out.split("event:", 1)[0])
        conversation_id, answer = _coze_answer(out)
        assert conversation_id == made["CONV"] and answer.startswith("Echo: hello")
        env = {k: made[k] for k in ("APP_KEY", "BOT", "CONV")}
        printed = _python(python, first.gateway.base_url, workdir, env).splitlines()
        assert printed[0] == 'Echo: hello | system: "You are Ada, a helpful assistant."'  # the variable's default
        assert printed[1].startswith("Echo: hi | memory: 2 earlier messages") and '"hello"' in printed[1]
    finally:
        assert first.stop() == 0

    second = launch_gateway(workdir)
    try:
        base = second.gateway.base_url
        # the root key in dev.json is the same one, and still works
        again = _bash(bash.split("\n\n", 1)[0] + '\necho "KEY=$KEY"\n', base, workdir)
        assert again.strip().endswith(f"KEY={made['KEY']}") and second.gateway.admin_key == made["KEY"]
        with second.gateway.client(made["KEY"]) as http:
            bot = http.get(f"/v1/bots/{made['BOT']}").json()["data"]
        assert bot["name"] == "helper"
        # the application key, the bot by its alias and by its id, and the conversation's history
        out = _bash(_paragraph(bash, "OpenAI Chat Completions"), base, workdir, env)
        assert "Echo: hello" in _openai_text(out)
        out = _bash(_paragraph(bash, "Coze chat v3 in that conversation"), base, workdir, env)
        conversation_id, answer = _coze_answer(out)
        assert conversation_id == made["CONV"]
        assert answer.startswith("Echo: hello | memory: 4 earlier messages")  # hello, its answer, hi, its answer
        printed = _python(python, base, workdir, env).splitlines()
        assert printed[0] == 'Echo: hello | system: "You are Ada, a helpful assistant."'
        assert printed[1].startswith("Echo: hi | memory: 6 earlier messages")
    finally:
        assert second.stop() == 0
