"""Reading a prediction request: its body within the size limit, multipart files, and the
batch it holds (images and JSON decoded off the event loop, tensors on it: they are cheap)."""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from daybreak.serve import inputs
from daybreak.serve.errors import (
    BadInputError,
    BodyTooLargeError,
    EmptyBodyError,
    UnsupportedMediaTypeError,
)


async def read_batch(request: Request, model: inputs.Model, limit: int) -> inputs.Batch:
    kind = inputs.media_type(request.headers.get("content-type"))
    check_media_type(kind)
    body = await read_body(request, limit)
    if kind == inputs.MULTIPART:
        files = await multipart_files(request, body)
        return await asyncio.to_thread(inputs.from_files, model, files)
    if kind in inputs.NPY_TYPES or "x-shape" in request.headers:
        return inputs.from_body(model, kind, body, request.headers)
    return await asyncio.to_thread(inputs.from_body, model, kind, body, request.headers)


def check_media_type(kind: str) -> None:
    readable = (*inputs.NPY_TYPES, inputs.RAW_TYPE, inputs.JSON_TYPE, inputs.MULTIPART, "")
    if not kind.startswith("image/") and kind not in readable:
        hint = f"send one of {', '.join(inputs.READ_TYPES)} (see docs/serve.md)"
        if kind == "application/x-www-form-urlencoded":
            hint = "curl sends --data-binary as a form: add -H 'Content-Type: image/png'; " + hint
        raise UnsupportedMediaTypeError(f"the server does not read {kind!r} bodies", hint)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 as soon as it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if (declared.isascii() and declared.isdigit()) and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise EmptyBodyError(
            "the request body is empty",
            "send an image, a tensor (application/x-npy) or JSON (see docs/serve.md)",
        )
    return body


def _too_large(size: int, limit: int) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"the body ({size:,} bytes or more) is larger than the server's limit of {limit:,} bytes",
        "send a smaller image or batch, or start the server with a larger --max-body-mb",
    )


async def multipart_files(request: Request, body: bytes) -> list[bytes]:
    """The bytes of every file in a multipart/form-data ``body``, in order."""
    from starlette.formparsers import MultiPartException

    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=256, max_fields=256)
    except (MultiPartException, AssertionError) as exc:
        raise BadInputError(f"the multipart body cannot be read: {exc}", _MULTIPART_HINT) from exc
    try:
        files = [await v.read() for _, v in form.multi_items() if isinstance(v, UploadFile)]
    finally:
        await form.close()
    if not files:
        raise BadInputError("the multipart body holds no file", _MULTIPART_HINT)
    if not all(files):
        raise EmptyBodyError("a file in the multipart body is empty", _MULTIPART_HINT)
    return files


_MULTIPART_HINT = "send one file field per image, e.g. curl -F file=@cat.png"
