"""THE hook where message content parts become runner content (files in chat: issue 4).

Both shapes arrive here: OpenAI content parts ({"type": "text"}, {"type": "image_url"},
{"type": "file"}, ...) and Coze object_string items ({"type": "text"|"image"|"file"|"audio",
"text"|"file_id"|"file_url"}). The result is OpenAI-style parts the runner understands:
{"type": "text", "text"} and {"type": "image_url", "image_url": {"url"}}.

For now text and image URLs pass through and any file reference is a clear 400. The files
engineer replaces the body of `resolve_parts` (e.g. look up file_id in store.files for
`owner_id`, presign or extract its text); the signature and the callers stay.
"""

from __future__ import annotations

from typing import Any

from agentgate.api.errors import ApiError

FILES_NOT_SUPPORTED = "files in chat are not supported yet"


def _image_url_part(url: Any, detail: Any = None) -> dict:
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "an image part needs a url", param="image_url.url")
    inner = {"url": url}
    if isinstance(detail, str):
        inner["detail"] = detail
    return {"type": "image_url", "image_url": inner}


def resolve_parts(owner_id: str, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Message content parts -> runner content parts. Raises ApiError(400) for what cannot be used."""
    out: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise ApiError(400, "a text part needs a text string", param="text")
            out.append({"type": "text", "text": text})
        elif kind == "image_url":  # OpenAI
            image = part.get("image_url")
            if isinstance(image, dict):
                out.append(_image_url_part(image.get("url"), image.get("detail")))
            else:
                out.append(_image_url_part(image))
        elif kind == "image" and part.get("file_url") and not part.get("file_id"):  # Coze, by URL
            out.append(_image_url_part(part.get("file_url")))
        elif kind in ("file", "image", "audio", "input_audio", "input_file", "file_url"):
            raise ApiError(400, FILES_NOT_SUPPORTED, param="content")
        else:
            raise ApiError(400, f"unsupported content part type {kind!r}", param="content")
    return out
