"""The HTTP API and the live view as one Starlette application.

    from edgedigits import Recognizer
    from edgedigits.serve.app import create_app
    app = create_app(Recognizer())            # then: uvicorn.run(app, host="127.0.0.1")

Routes: ``POST /v1/read``, ``POST /v1/classify``, ``GET /v1/health``, ``GET /v1/info``, the page
at ``/`` and its live feeds under ``/v1/live/``. Every refusal is JSON ``{"error": "<sentence>"}``
with a 4xx status; an unexpected failure is a 500 with no traceback in the body (it goes to the log).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import traceback

from ..errors import EdgeDigitsError
from .core import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    IMAGE_TYPES,
    MAX_CROPS,
    NPY_TYPES,
    RequestError,
    check_crops,
    classify_json,
    crops_from_pngs,
    decode_image,
    info_json,
    load_npy,
    media_type,
    read_json,
)
from .live import blank_jpeg

OPEN_PATHS = ("/", "/v1/health")  # no data behind them: reachable without the token (as is /static/)
TOKEN_ENV = "EDGEDIGITS_TOKEN"


def _error(message: str, status: int, headers: dict | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: the bearer token (constant-time compare) and the request size limit.

    A body whose Content-Length is above ``max_bytes`` is refused before it is read; one that
    streams past it (chunked, or a lying header) is refused as soon as it does.
    """

    def __init__(self, app, token: str | None, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes
        self.token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        if (
            self.token
            and path not in OPEN_PATHS
            and not path.startswith("/static/")
            and not self._authorised(headers, scope.get("query_string", b""))
        ):
            return await _error(
                "a valid bearer token is required; send 'Authorization: Bearer <token>' "
                "(the token the server was started with).",
                401,
                {"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return await _error("the Content-Length header is not a number.", 400)(scope, receive, send)
            if int(length) > self.max_bytes:
                return await _error(self._too_large(int(length)), 413)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestError(self._too_large(received, streaming=True), 413)
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self, size: int, streaming: bool = False) -> str:
        got = f"more than {self.max_bytes:,} bytes arrived" if streaming else f"the body is {size:,} bytes"
        return f"the request is too large ({got}; this server's limit is {self.max_bytes:,}); send a smaller one."

    def _authorised(self, headers: dict, query: bytes) -> bool:
        given = ""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        else:  # EventSource and <img> cannot send headers: the page passes it in the URL
            from urllib.parse import parse_qs

            given = parse_qs(query.decode("latin-1")).get("access_token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token)


def create_app(
    recognizer,
    *,
    token: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    live=None,
    classify=None,
    extra_info=None,
):
    """The Starlette application serving ``recognizer``.

    Args:
        recognizer: the one :class:`~edgedigits.Recognizer` every request goes through
            (its backend calls are serialised by its own lock; requests run in worker threads).
        token: when set, every route but ``/``, ``/static/`` and ``/v1/health`` needs it as a bearer token.
        max_bytes: the largest request body accepted.
        max_pixels: the largest image (width x height) decoded.
        live: a started :class:`~edgedigits.serve.live.LiveView`, or None for no device camera.
        classify: an async function (checked crops -> the ``/v1/classify`` JSON) to use instead of
            ``recognizer.classify`` in a worker thread (Ray Serve passes its dynamic batcher).
        extra_info: a function returning more fields for ``GET /v1/info``.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    static = StaticFiles(packages=[("edgedigits.serve", "static")])

    def read_image(data: bytes) -> dict:
        return read_json(recognizer, decode_image(data, max_pixels))

    async def read_route(request):
        kind = media_type(request.headers.get("content-type"))
        if kind == "multipart/form-data":
            files = await _files(request, 1)
            if len(files) != 1:
                raise RequestError("send exactly one image file in the form (field name: any).")
            data = files[0]
        elif kind in IMAGE_TYPES:
            data = await request.body()
        else:
            raise RequestError(
                f"the content type {kind or '(none)'} is not an image; send image/jpeg or "
                f"image/png (or multipart/form-data with one image).",
                415,
            )
        return JSONResponse(await run_in_threadpool(read_image, data))

    def crops_of(parts: list[bytes]):
        crops = (
            load_npy(parts[0])
            if len(parts) == 1 and parts[0][:6] == b"\x93NUMPY"
            else crops_from_pngs(parts, max_pixels)
        )
        check_crops(crops)
        return crops

    async def classify_crops(crops) -> dict:
        return await run_in_threadpool(classify_json, recognizer, crops)

    async def classify_route(request):
        kind = media_type(request.headers.get("content-type"))
        if kind == "multipart/form-data":
            parts = await _files(request, MAX_CROPS)
        elif kind in NPY_TYPES:
            body = await request.body()
            if body[:6] != b"\x93NUMPY" and body:
                raise RequestError(
                    "the body is not a .npy file (no NUMPY magic); save the crops with "
                    "numpy.save, or send PNG crops as multipart/form-data.",
                    415,
                )
            parts = [body]
        else:
            raise RequestError(
                f"the content type {kind or '(none)'} is not accepted here; send a .npy "
                f"(application/x-npy) or 28x28 PNG crops as multipart/form-data.",
                415,
            )
        crops = await run_in_threadpool(crops_of, parts)
        return JSONResponse(await (classify or classify_crops)(crops))

    async def health(request):
        return JSONResponse({"status": "ok"})

    async def info(request):
        return JSONResponse(
            dict(info_json(recognizer), live=live.status() if live else None, **(extra_info() if extra_info else {}))
        )

    async def index(request):
        from importlib.resources import files

        return FileResponse(str(files("edgedigits.serve") / "static" / "index.html"))

    def need_live():
        if live is None:
            raise RequestError(
                "this server has no live source; start it with --source, for example --source 0 or --source demo.", 404
            )

    async def frames(after: int = 0):
        """Yield (seq, jpeg, reading) each time the live view publishes a new frame."""
        while not live.stop.is_set():
            if live.seq > after:
                after = live.seq
                yield after, live.jpeg, live.reading
            elif not live._thread.is_alive():
                yield after, blank_jpeg(live.state), None
                await asyncio.sleep(1.0)
            else:
                await asyncio.sleep(0.02)

    async def mjpeg(request):
        need_live()

        async def parts():
            async for _, jpeg, _ in frames():
                if jpeg:
                    yield (
                        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        + str(len(jpeg)).encode()
                        + b"\r\n\r\n"
                        + jpeg
                        + b"\r\n"
                    )

        return StreamingResponse(
            parts(), media_type="multipart/x-mixed-replace; boundary=frame", headers={"Cache-Control": "no-store"}
        )

    async def snapshot(request):
        need_live()
        jpeg = live.jpeg or blank_jpeg(live.state)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def events(request):
        need_live()

        async def stream():
            yield ": live readings\n\n"
            async for _, _, reading in frames():
                yield "data: " + json.dumps({"reading": reading, "status": live.status()}) + "\n\n"
                await asyncio.sleep(0.1)  # at most ~10 updates a second per browser

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def on_edgedigits_error(request, exc: EdgeDigitsError):
        return _error(str(exc), getattr(exc, "status", 400))

    async def on_http_error(request, exc: HTTPException):
        if exc.status_code == 404:
            return _error(
                f"there is no {request.url.path} here; the API is POST /v1/read, POST /v1/classify, "
                f"GET /v1/health and GET /v1/info.",
                404,
            )
        if exc.status_code == 405:
            return _error(f"{request.method} is not allowed on {request.url.path}; see GET /v1/info for the API.", 405)
        detail = str(exc.detail).rstrip(".").replace(". ", "; ")
        return _error(f"the request was refused: {detail[:1].lower() + detail[1:]}.", exc.status_code)

    async def on_unexpected(request, exc: Exception):
        traceback.print_exception(exc, file=sys.stderr)
        return _error(
            "the server failed on this request (an internal error, logged on the server); report it if it persists.",
            500,
        )

    routes = [
        Route("/", index),
        Mount("/static", static, name="static"),
        Route("/v1/health", health),
        Route("/v1/info", info),
        Route("/v1/read", read_route, methods=["POST"]),
        Route("/v1/classify", classify_route, methods=["POST"]),
        Route("/v1/live/stream.mjpg", mjpeg),
        Route("/v1/live/frame.jpg", snapshot),
        Route("/v1/live/events", events),
    ]
    handlers = {EdgeDigitsError: on_edgedigits_error, HTTPException: on_http_error, Exception: on_unexpected}
    return Starlette(
        routes=routes, exception_handlers=handlers, middleware=[Middleware(Guard, token=token, max_bytes=max_bytes)]
    )


async def _files(request, max_files: int) -> list[bytes]:
    """The contents of every file in a multipart form."""
    form = await request.form(max_files=max_files, max_fields=100)
    try:
        return [await v.read() for _, v in form.multi_items() if hasattr(v, "read")]
    finally:
        await form.close()
