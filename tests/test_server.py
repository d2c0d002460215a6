"""The HTTP server around the app (`adsvc serve`, a real process): what aiohttp's parser refuses before any middleware
runs still answers in the JSON error shape with the security headers, echoes nothing of the request, and is logged as
one warning line; no response advertises the versions behind the service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from factories import TEST_SECRET, TEST_TOKEN_KEY, Stack

from adsvc.embedded import free_port
from adsvc.settings import REPO_ROOT

SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy")
SECRET = "s3cr3t-t0ken-in-the-url"


@dataclass
class Served:
    host: str
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


def _env(stack: Stack) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        "FACEBOOK_GRAPH_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.asynccontextmanager
async def _serving(command: list[str], env: dict[str, str], port: int, log: Path) -> AsyncIterator[Served]:
    """A web server as its own OS process, its log in a file, until it answers /health."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    served = Served("127.0.0.1", port, log)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                assert process.poll() is None, log.read_text()
                try:
                    async with session.get(served.base + "/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server did not start: " + log.read_text())
        yield served
    finally:
        process.terminate()
        process.wait(timeout=40)


@pytest.fixture
async def served(stack: Stack, tmp_path: Path) -> AsyncIterator[Served]:
    """`adsvc serve`, as `adsvc dev` runs it."""
    port = free_port()
    command = [sys.executable, "-m", "adsvc", "serve", "--host", "127.0.0.1", "--port", str(port)]
    async with _serving(command, _env(stack), port, tmp_path / "serve.log") as served:
        yield served


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(served: Served, data: bytes) -> RawResponse:
    """Bytes in over a plain socket, the whole answer out (the server closes the connection after an error)."""
    reader, writer = await asyncio.open_connection(served.host, served.port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, body)


MALFORMED = {
    "request line over the limit": f"GET /api/v1/campaigns?token={SECRET}&pad={'a' * 9000} HTTP/1.1\r\n"
    "Host: x\r\n\r\n".encode(),
    "header over the limit": f"GET /health?token={SECRET} HTTP/1.1\r\nHost: x\r\nX-Pad: {'b' * 9000}\r\n\r\n".encode(),
    "too many headers": f"GET /health?token={SECRET} HTTP/1.1\r\nHost: x\r\n".encode()
    + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    + b"\r\n",
    "control byte in a header": f"GET /health?token={SECRET} HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n".encode(),
    "bad method": f"G(T /health?token={SECRET} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "not HTTP at all": f"\x16\x03\x01{SECRET}\r\n\r\n".encode(),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=list(MALFORMED))
async def test_malformed_requests_answer_the_json_error_shape_without_echoing_them(served, data):
    response = await raw_request(served, data)
    assert response.status == 400
    assert response.headers["content-type"].startswith("application/json")
    body = orjson.loads(response.body)
    assert set(body) == {"error"}
    assert body["error"]["code"] == "malformed_request"
    assert body["error"]["message"] and body["error"]["request_id"] == response.headers["x-request-id"]
    for header in SECURITY_HEADERS:
        assert header.lower() in response.headers
    assert response.headers["server"] == "adsvc"
    assert SECRET.encode() not in response.body and b"aaaa" not in response.body and b"bbbb" not in response.body


async def test_malformed_requests_are_logged_as_one_warning_line_without_traceback(served):
    for data in MALFORMED.values():
        await raw_request(served, data)
    await asyncio.sleep(0.2)
    log = served.log.read_text()
    warnings = [line for line in log.splitlines() if "refused a malformed request" in line]
    assert len(warnings) == len(MALFORMED), log
    assert all(" WARNING adsvc.web: " in line for line in warnings)
    assert "Traceback" not in log
    assert SECRET not in log and "aaaa" not in log


async def test_the_server_still_serves_after_refusing_a_malformed_request(served):
    await raw_request(served, MALFORMED["request line over the limit"])
    async with aiohttp.ClientSession() as session, session.get(served.base + "/health") as response:
        assert response.status == 200


async def test_the_server_header_names_the_service_without_versions(served, client):
    async with aiohttp.ClientSession() as session:
        for path in ("/health", "/api/v1/nothing-here", "/api/openapi.json"):
            async with session.get(served.base + path) as response:
                assert response.headers["Server"] == "adsvc", path
    # in process too (no ApiRunner there): the app itself sets it, on errors as well
    for path in ("/health", "/api/v1/nothing-here", "/api/v1/auth/me"):
        response = await client.get(path)
        assert response.headers["Server"] == "adsvc", path


async def test_the_procfile_web_process_answers_malformed_requests_the_same_way(stack, tmp_path):
    port = free_port()
    line = next(line for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    line = line.replace("${PORT:-8000}", str(port)).replace("${WEB_CONCURRENCY:-2}", "1")
    program, *arguments = shlex.split(line.removeprefix("web:"))
    command = [str(Path(sys.executable).parent / program), *arguments]
    async with _serving(command, _env(stack), port, tmp_path / "gunicorn.log") as served:
        response = await raw_request(served, MALFORMED["request line over the limit"])
        assert response.status == 400
        assert orjson.loads(response.body)["error"]["code"] == "malformed_request"
        assert response.headers["server"] == "adsvc"
