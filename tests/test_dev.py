"""`adsvc dev` as a newcomer runs it: embedded PostgreSQL and Redis, an admin printed once, web and worker up,
Ctrl-C stopping every process, and a second start finding the same data."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import sys
from pathlib import Path

import aiohttp
import pytest

from adsvc.embedded import free_port

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT = 90


async def _start(data_dir: Path, port: int) -> tuple[asyncio.subprocess.Process, list[str]]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(ADSVC_DATA_DIR=str(data_dir), LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adsvc", "dev", "--port", str(port),
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=data_dir.parent,  # away from any .env in the repo
        start_new_session=True,  # its own process group, so the test can send Ctrl-C to the whole group
    )  # fmt: skip
    lines: list[str] = []
    assert process.stdout is not None
    async with asyncio.timeout(STARTUP_TIMEOUT):
        while True:
            raw = await process.stdout.readline()
            if not raw:
                raise AssertionError("adsvc dev exited early:\n" + "".join(lines))
            lines.append(raw.decode())
            if "adsvc dev: web" in lines[-1]:
                break
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
    return process, lines


async def _ctrl_c(process: asyncio.subprocess.Process) -> str:
    os.killpg(process.pid, signal.SIGINT)
    assert process.stdout is not None
    async with asyncio.timeout(60):
        rest = await process.stdout.read()
        await process.wait()
    return rest.decode()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _login(port: int, email: str, password: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login", json={"email": email, "password": password}
        ) as response,
    ):
        return response.status


async def test_dev_starts_everything_prints_admin_once_and_keeps_data(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    process, lines = await _start(data_dir, port)
    try:
        output = "".join(lines)
        passwords = [found.group(1) for line in lines if (found := re.search(r"^\| +password: (\S+) +\|$", line))]
        assert len(passwords) == 1, output
        password = passwords[0]
        assert "adsvc dev: connected sandbox account" in output, output  # through the same code as the HTTP connect
        assert await _login(port, "admin@example.com", password) == 200
        # framed after the children's start-up lines, and saved once, readable by the owner only
        box = [index for index, line in enumerate(lines) if line.startswith("+---")]
        assert len(box) == 2 and lines.index("adsvc: worker started\n") < box[0], output
        saved = data_dir.resolve() / "first-admin-credentials.txt"
        assert str(saved) in "".join(lines[box[0] : box[1]])
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert f"password: {password}\n" in saved.read_text()
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # the worker's first heartbeat runs at start-up
                async with session.get(f"http://127.0.0.1:{port}/status") as response:
                    html = await response.text()
                if "No worker has reported" not in html:
                    break
                await asyncio.sleep(0.1)
        assert "Workers" in html and "No worker has reported" not in html
        redis_port = int((data_dir / "redis" / "redis.port").read_text())
    finally:
        rest = await _ctrl_c(process)
    assert process.returncode == 0, rest
    assert not _port_open(port) and not _port_open(redis_port)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()

    process, lines = await _start(data_dir, port)
    try:
        assert not any("password:" in line for line in lines)
        assert await _login(port, "admin@example.com", password) == 200
    finally:
        await _ctrl_c(process)
    assert process.returncode == 0


async def test_second_dev_on_the_same_data_folder_is_refused(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    process, _ = await _start(data_dir, port)
    try:
        env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adsvc", "dev", "--port", str(free_port()),
            env={**env, "ADSVC_DATA_DIR": str(data_dir)}, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2
        assert "already running" in stderr.decode()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/ready") as response:
                assert response.status == 200  # the first one is untouched
    finally:
        await _ctrl_c(process)


async def _line_matching(process: asyncio.subprocess.Process, pattern: str, seen: list[str]) -> re.Match[str]:
    assert process.stdout is not None
    while True:
        raw = await process.stdout.readline()
        if not raw:
            raise AssertionError(f"adsvc dev exited before printing {pattern!r}:\n" + "".join(seen))
        seen.append(raw.decode())
        if found := re.search(pattern, seen[-1]):
            return found


async def test_dev_restarts_a_killed_worker_with_a_line_saying_so(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    process, lines = await _start(data_dir, port)
    seen: list[str] = []
    try:
        roster = next(line for line in lines if line.startswith("adsvc dev: running "))
        worker_pid = int(re.search(r"worker \(pid (\d+)\)", roster).group(1))
        os.kill(worker_pid, signal.SIGKILL)
        async with asyncio.timeout(30):
            died = await _line_matching(process, r"adsvc dev: worker \(pid (\d+)\) died with (.+) after \d+ s; "
                                                 r"restarting it in (\S+) s \(at \d\d:\d\d:\d\d\)", seen)  # fmt: skip
            assert died.groups() == (str(worker_pid), "signal SIGKILL", "1")
            restarted = await _line_matching(process, r"adsvc dev: worker restarted \(pid (\d+)\)", seen)
            new_pid = int(restarted.group(1))
            await _line_matching(process, r"^adsvc: worker started$", seen)  # the new worker's own start-up line
        assert new_pid != worker_pid
        os.kill(new_pid, 0)  # alive
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/ready") as response:
                assert response.status == 200  # the rest of the stack never went down
    finally:
        rest = await _ctrl_c(process)
    assert process.returncode == 0, "".join(seen) + rest
    assert "died" not in rest  # Ctrl-C stops every child without a restart
    with pytest.raises(ProcessLookupError):
        os.kill(new_pid, 0)
