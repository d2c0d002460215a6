"""The access log: one line per request with its id; the path without its query string, so no secret leaks."""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from adsvc.keys import REQUEST_ID


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        request_id = request.get(REQUEST_ID, "-")
        self.logger.info(
            '%s "%s %s" %s %.1fms id=%s',
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
            request_id,
        )
