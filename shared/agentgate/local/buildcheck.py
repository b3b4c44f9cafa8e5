"""`agentgate check-build`: refuse to deploy a `sam build` whose layers lack the runtime's bytecode.

Lambda's /opt is read-only, so a layer module without a matching .pyc is compiled from source at
every cold start (about 4x the import time). shared/Makefile fails a build that cannot write the
bytecode unless AGENTGATE_LAYER_BYTECODE=skip (tests only), which leaves the marker file
python/AGENTGATE_NO_BYTECODE in the layer. This check runs before `sam deploy`:

    sam build --use-container && agentgate check-build && sam deploy

It reports every layer (a directory of .aws-sam/build with a python/ folder) that carries the
marker or has a .py without a cpython-313 .pyc beside it in __pycache__.
"""

from __future__ import annotations

from pathlib import Path

from agentgate import NO_BYTECODE_MARKER as MARKER
RUNTIME_TAG = "cpython-313"


def problems(build_dir: str | Path, tag: str = RUNTIME_TAG) -> list[str]:
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        return [f"{build_dir}: no build here; run `sam build --use-container` first"]
    layers = sorted(p.parent for p in build_dir.glob("*/python") if p.is_dir())
    if not layers:
        return [f"{build_dir}: no layer (*/python) in this build"]
    found = []
    for layer in layers:
        python = layer / "python"
        if (python / MARKER).exists():
            found.append(f"{layer.name}: built without bytecode ({(python / MARKER).read_text().strip()})")
            continue
        missing = [src for src in python.rglob("*.py")
                   if not (src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc").exists()]
        if missing:
            sample = ", ".join(str(m.relative_to(python)) for m in missing[:3])
            found.append(f"{layer.name}: {len(missing)} modules without {tag} bytecode (e.g. {sample})")
    return found


def main(build_dir: str) -> int:
    found = problems(build_dir)
    for line in found:
        print(f"error: {line}")
    if found:
        print("Do not deploy this build: rebuild with `sam build --use-container` (or on Python 3.13).")
        return 1
    print(f"ok: every layer in {build_dir} ships {RUNTIME_TAG} bytecode")
    return 0
