"""The baseline of the auth benchmark: one aiohttp process with one trivial JSON handler and nothing else.

It answers `GET /me` (and `GET /health`) with the body of the service's `/api/v1/auth/me`, runs on uvloop when it is
installed (as `adsvc serve` does), and has no access log, no middleware and no I/O. Whatever the service does per
request on top of this is what the ratio in `bench_auth.py` measures.

    python benchmarks/bare_app.py --port 8081 [--body-file campaigns.json]

With `--body-file` it also answers `GET /body` with that file's bytes as a JSON response (the baseline of
`bench_campaigns.py`: the same bytes the service sends, with none of the work that produces them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from aiohttp import web

BODY = {"id": 1, "email": "a@b.c", "is_admin": False}


async def me(request: web.Request) -> web.Response:
    return web.json_response(BODY)


def build_app(body: bytes | None = None) -> web.Application:
    app = web.Application()
    app.router.add_get("/me", me)
    app.router.add_get("/health", me)
    if body is not None:

        async def static_body(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="application/json")

        app.router.add_get("/body", static_body)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="A bare aiohttp JSON handler, the baseline of bench_auth.py.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, help="also serve this file's bytes as JSON on GET /body")
    args = parser.parse_args()
    body = args.body_file.read_bytes() if args.body_file else None
    loop: asyncio.AbstractEventLoop | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop = uvloop.new_event_loop()
    print(f"bare_app: serving on http://{args.host}:{args.port} (uvloop: {loop is not None})", flush=True)
    web.run_app(build_app(body), host=args.host, port=args.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
