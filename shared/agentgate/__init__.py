"""agentgate: publish AI agents and workflows as a secure, streaming HTTP API."""

__version__ = "0.1.0"
SERVICE_NAME = "agentgate"
# The marker shared/Makefile leaves in a layer built with AGENTGATE_LAYER_BYTECODE=skip (tests only).
NO_BYTECODE_MARKER = "AGENTGATE_NO_BYTECODE"


def _refuse_a_layer_without_bytecode() -> None:
    """In Lambda, refuse to start from a layer built without bytecode: every cold start would
    compile it from source (~4x slower). Failing init makes a SnapStart version fail to publish,
    so such a deploy fails loudly instead of running slow."""
    import os.path

    from agentgate.config import settings

    if not settings().in_lambda:
        return
    layer_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.exists(os.path.join(layer_root, NO_BYTECODE_MARKER)):
        raise RuntimeError("this agentgate layer was built without bytecode (AGENTGATE_LAYER_BYTECODE=skip, "
                           "for tests only); rebuild with `sam build --use-container` before deploying")


_refuse_a_layer_without_bytecode()
