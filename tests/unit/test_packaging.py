"""The README's start command (`pip install -e ".[local]"`) installs everything the local service uses."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements(extra: str, extras: dict, seen=None) -> set[str]:
    seen = seen if seen is not None else set()
    out = set()
    for req in extras[extra]:
        name = req.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        if name == "agentgate":
            for sub in req[req.index("[") + 1:req.index("]")].split(","):
                if sub not in seen:
                    seen.add(sub)
                    out |= _requirements(sub.strip(), extras, seen)
        else:
            out.add(name)
    return out


def test_the_local_extra_brings_the_file_readers_and_the_embedded_store():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    local = _requirements("local", extras)
    assert {"pypdf", "python-docx", "moto"} <= local
    assert "python-multipart" in (ROOT / "shared" / "requirements.txt").read_text()
    # PDFs in chat on Lambda too: the readers ship in the extraction layer (files and chat functions).
    assert "pypdf" in (ROOT / "shared" / "requirements-extract.txt").read_text()
