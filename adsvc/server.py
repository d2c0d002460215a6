"""The HTTP server around the app: requests aiohttp's parser refuses before any middleware runs (request line or
headers over its limits, bad bytes) answer in the service's JSON error shape, with the security headers, and are
logged as one warning line. `adsvc serve` and the Procfile's gunicorn both serve through ApiRunner."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)

from adsvc.errors import ApiError, BadRequest
from adsvc.middleware import SECURITY_HEADERS, SERVER_NAME, error_response

log = logging.getLogger("adsvc.web")

# Shutdown grace under gunicorn: within the Procfile's --graceful-timeout of 30 s.
GUNICORN_SHUTDOWN_SECONDS = 28.0


def describe_protocol_error(exc: BaseException | None) -> str:
    """What was wrong with a request aiohttp could not parse, in words that echo none of its bytes (the request line
    may carry a token in its query string, and the bytes are the attacker's)."""
    if isinstance(exc, LineTooLong):
        return "the request line or a header is longer than the server accepts"
    if isinstance(exc, BadHttpMethod):
        return "the request method is not valid HTTP"
    if isinstance(exc, BadStatusLine):
        return "the request line is not valid HTTP"
    if isinstance(exc, InvalidURLError):
        return "the request target is not a valid URL"
    if isinstance(exc, InvalidHeader):
        return "a header is not valid HTTP"
    return "the request is not valid HTTP"


class ProtocolErrorHandler(web.RequestHandler):
    """aiohttp's per-connection protocol with the service's error answers. aiohttp calls handle_error for what its
    parser refuses (a 400, before the app and its middlewares see anything) and for what escapes the app."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of a response is on the wire already: aiohttp closes the connection on this.
            raise ConnectionError("response already started; cannot send an error response")
        request_id = os.urandom(12).hex()
        error: ApiError
        if status < 500 and isinstance(exc, HttpProcessingError):
            reason = describe_protocol_error(exc)
            log.warning("refused a malformed request from %s: %s (request_id=%s)", request.remote, reason, request_id)
            error = BadRequest(reason, code="malformed_request")
            error.status = status
        else:
            # The middlewares answer every error the app raises; reaching here means one of them failed.
            log.error("error outside the app's middlewares (request_id=%s)", request_id, exc_info=exc)
            error = ApiError("internal server error" if status == 500 else "the request could not be completed")
            error.status = status
        response = error_response(error, request_id)
        response.headers["X-Request-ID"] = request_id
        response.headers.update(SECURITY_HEADERS)
        response.headers["Server"] = SERVER_NAME
        response.force_close()
        return response


class ApiServer(web.Server):
    """aiohttp's low-level server, handing each connection to ProtocolErrorHandler."""

    def __call__(self) -> web.RequestHandler:
        return ProtocolErrorHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """web.AppRunner (app start-up, clean-up, graceful shutdown) serving through ApiServer."""

    async def _make_server(self) -> web.Server:
        # AppRunner starts the app and builds its Server with every handler setting; keep all of them.
        built = await super()._make_server()
        return ApiServer(
            built.request_handler,
            request_factory=built.request_factory,
            handler_cancellation=built.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **built._kwargs,
        )


def run_server(
    app: web.Application,
    *,
    host: str,
    port: int,
    loop: asyncio.AbstractEventLoop | None = None,
    listening: Callable[[], None] | None = None,
) -> None:
    """Serve the app until SIGINT or SIGTERM, then shut down gracefully (web.run_app's job, through ApiRunner);
    `listening` is called once the socket listens, after every cleanup context started."""
    from adsvc.weblog import AccessLogger

    async def serve() -> None:
        runner = ApiRunner(app, access_log_class=AccessLogger, handler_cancellation=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            if listening is not None:
                listening()
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    loop = loop or asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def gunicorn_runner() -> web.AppRunner:
    """The Procfile's gunicorn entry point: aiohttp's GunicornWebWorker serves the runner an async factory returns."""
    from adsvc.app import create_app
    from adsvc.settings import Settings
    from adsvc.weblog import AccessLogger

    settings = Settings.from_env()
    # gunicorn configures only its own loggers; the service's (and its access log) go to stderr like `adsvc serve`'s
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return ApiRunner(create_app(settings), access_log_class=AccessLogger, shutdown_timeout=GUNICORN_SHUTDOWN_SECONDS)
