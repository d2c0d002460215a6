"""Machinery shared by the benchmarks in this folder (not collected by pytest, not part of the service).

- embedded PostgreSQL and Redis (or DATABASE_URL / REDIS_URL), migrations, fresh service keys;
- child processes in sessions of their own, pinned to CPUs, stopped newest first on every way out;
- HTTP helpers (create a user, wait for a server, log in), wrk and the Python load client, alternating measured runs
  with medians;
- `main()`: signal handling (Ctrl-C / SIGTERM unwind every `finally`), exit codes, `--json`.

The scripts run as `python benchmarks/<name>.py`, so this folder is on sys.path and `import benchlib` works.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from adsvc.embedded import EmbeddedPostgres, EmbeddedRedis
from adsvc.settings import REPO_ROOT

BENCH_DIR = Path(__file__).resolve().parent
STARTUP_TIMEOUT_S = 60.0
CLIENT_SATURATED_PCT = 90.0

T = TypeVar("T")


class BenchError(Exception):
    """Something the benchmark needs did not work; the message says what, and where its log is."""


# ---- CPU placement -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which CPUs the servers and the rest (load client, Redis, PostgreSQL) may use; empty means unpinned."""

    server: frozenset[int] = frozenset()
    others: frozenset[int] = frozenset()

    @classmethod
    def choose(cls, enabled: bool) -> Placement:
        if not enabled or not hasattr(os, "sched_getaffinity"):
            return cls()
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls()
        return cls(server=frozenset(cpus[:1]), others=frozenset(cpus[1:]))

    def apply_to_this_process(self) -> None:
        """Everything started from here inherits `others`; only the servers are moved to `server`."""
        if self.others:
            os.sched_setaffinity(0, self.others)

    def describe(self) -> str:
        if not self.server:
            return "none (every process may run on every CPU)"
        return (
            f"servers on CPU {_cpu_list(self.server)}; load client, Redis, PostgreSQL on CPU {_cpu_list(self.others)}"
        )


def _cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def pinned(argv: list[str], cpus: frozenset[int]) -> list[str]:
    """The command under taskset, when there are CPUs to pin to and taskset exists; else see `pin_process`."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", _cpu_list(cpus), *argv]
    return argv


def pin_process(pid: int, cpus: frozenset[int]) -> None:
    """Pin a process that has just started (so still has a single thread), for when taskset is missing."""
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, all threads included (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and its direct children (a postmaster and its backends), Linux /proc."""
    total = process_cpu_seconds(root)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == root:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---- processes -----------------------------------------------------------------------------------------------------


class Children:
    """The long-running processes started here; `stop_all` ends them, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, name: str, argv: list[str], *, env: dict[str, str], cpus: frozenset[int]
    ) -> subprocess.Popen[bytes]:
        log_path = self.log_path(name)
        with log_path.open("wb") as log:
            # a session of its own: a Ctrl-C reaches only this script, which then stops the children in order
            process = subprocess.Popen(
                pinned(argv, cpus),
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started.append((name, process))
        if not shutil.which("taskset"):
            pin_process(process.pid, cpus)
        return process

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def stop(self, process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop one child now (gracefully with `sig`, killed after `timeout`); returns its exit code."""
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop_all(self, timeout: float = 10.0) -> None:
        for _, process in reversed(self._started):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for _, process in reversed(self._started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._started.clear()


@dataclass(frozen=True)
class Stores:
    database_url: str
    redis_url: str
    embedded: bool
    # the embedded cluster's folder (its postmaster.pid names the process tree whose CPU can be counted)
    postgres_dir: Path | None = None

    def postgres_pid(self) -> int | None:
        """The embedded postmaster's pid; None for an external PostgreSQL."""
        if self.postgres_dir is None:
            return None
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.postgres_dir / "postmaster.pid").read_text().split()[0])
        return None


@contextlib.contextmanager
def backing_stores(data_dir: Path, *, redis: bool = True) -> Iterator[Stores]:
    """The PostgreSQL and Redis of the environment, or embedded ones in `data_dir` stopped on the way out.

    With `redis=False` only PostgreSQL is needed: DATABASE_URL when set, else the embedded one (redis_url is "").
    """
    database_url, redis_url = os.environ.get("DATABASE_URL", "").strip(), os.environ.get("REDIS_URL", "").strip()
    if not redis:
        redis_url = ""
    if database_url and (redis_url or not redis):
        yield Stores(database_url, redis_url, embedded=False)
        return
    if database_url or redis_url:
        raise BenchError("set both DATABASE_URL and REDIS_URL, or neither (for the embedded servers)")
    postgres = EmbeddedPostgres(data_dir)
    embedded_redis = EmbeddedRedis.in_data_dir(data_dir) if redis else None
    try:
        database_url = postgres.start()
        redis_url = embedded_redis.start(reuse=False) if embedded_redis else ""
        yield Stores(database_url, redis_url, embedded=True, postgres_dir=postgres.path)
    finally:
        if embedded_redis is not None:
            embedded_redis.stop()
        if (postgres.path / "postmaster.pid").exists():
            # the folder is new, so a postmaster in it is ours even when start() was cut short before noting it
            postgres.started_here = True
        postgres.stop()


def service_env(stores: Stores, work_dir: Path) -> dict[str, str]:
    """The environment of every adsvc process: the stores, fresh keys, WARNING logs, default argon2 parameters."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ARGON2_")}
    env.update(
        DATABASE_URL=stores.database_url,
        REDIS_URL=stores.redis_url,
        SECRET_KEY=secrets.token_urlsafe(48),
        # a Fernet key (urlsafe base64 of 32 random bytes); the auth path never uses it, but the service requires one
        TOKEN_ENCRYPTION_KEY=os.environ.get("TOKEN_ENCRYPTION_KEY") or fernet_key(),
        LOG_LEVEL="WARNING",
        ADSVC_DATA_DIR=str(work_dir / "adsvc-data"),
        PYTHONUNBUFFERED="1",
    )
    return env


def create_user(env: dict[str, str], email: str, password: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adsvc", "create-user", email],
        input=password + "\n",
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"create-user failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")


def http_request(
    port: int, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_serving(
    name: str,
    process: subprocess.Popen[bytes],
    port: int,
    log_path: Path,
    *,
    path: str = "/health",
    timeout: float = STARTUP_TIMEOUT_S,
) -> None:
    """Poll GET `path` until it answers 200; fail with the log's tail when the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise BenchError(
                f"{name} exited with {process.returncode} while starting; see {log_path}:\n" + tail(log_path)
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_request(port, "GET", path)[0] == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"{name} did not answer GET {path} within {timeout:.0f} s; see {log_path}")
        time.sleep(0.1)


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def log_summary(path: Path, last: int = 6) -> dict[str, Any]:
    """How many WARNING and ERROR lines a server logged, and its last lines."""
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").splitlines()
        return {
            "warnings": sum(" WARNING " in line for line in lines),
            "errors": sum(" ERROR " in line or " CRITICAL " in line for line in lines),
            "tail": lines[-last:],
        }
    return {"warnings": 0, "errors": 0, "tail": []}


def log_in(port: int, email: str, password: str) -> str:
    status, body = http_request(
        port,
        "POST",
        "/api/v1/auth/login",
        body=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    if status != 200:
        raise BenchError(f"login answered {status}: {body[:300]!r}")
    return str(json.loads(body)["access_token"])


# ---- load clients --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_pct: float
    client_cpu_pct: float
    # CPU of the embedded PostgreSQL (postmaster and backends) over the run, when measured
    db_cpu_pct: float | None = None


_WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_PERCENTILE = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_WRK_TOTAL = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, p50, p99, request and error counts from `wrk --latency` output."""
    rps = _WRK_RPS.search(output)
    total = _WRK_TOTAL.search(output)
    percentiles = {float(pct): float(value) * _UNIT_MS[unit] for pct, value, unit in _WRK_PERCENTILE.findall(output)}
    if rps is None or total is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise BenchError(f"could not read wrk's output:\n{output}")
    errors = sum(int(count) for count in _WRK_NON_2XX.findall(output))
    socket_errors = _WRK_SOCKET_ERRORS.search(output)
    if socket_errors:
        # the read errors wrk reports when it closes its connections at the end are not failed requests
        errors += int(socket_errors.group(1)) + int(socket_errors.group(3)) + int(socket_errors.group(4))
    return {
        "rps": float(rps.group(1)),
        "p50_ms": round(percentiles[50.0], 3),
        "p99_ms": round(percentiles[99.0], 3),
        "requests": int(total.group(1)),
        "errors": errors,
    }


def wrk_version(path: str) -> str:
    result = subprocess.run([path, "-v"], capture_output=True, text=True, check=False, timeout=10)
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


@dataclass(frozen=True)
class LoadClient:
    """The same client, connections and duration for every target; `python` is benchmarks/loadgen.py."""

    kind: str  # "wrk" or "python"
    connections: int
    label: str

    def _argv(self, url: str, duration: int, headers: Sequence[str]) -> list[str]:
        if self.kind == "wrk":
            header_args = [arg for header in headers for arg in ("-H", header)]
            return ["wrk", "-t1", f"-c{self.connections}", f"-d{duration}s", "--latency", *header_args, url]
        header_args = [arg for header in headers for arg in ("--header", header)]
        return [
            sys.executable,
            str(BENCH_DIR / "loadgen.py"),
            "load",
            url,
            "--connections",
            str(self.connections),
            "--duration",
            str(duration),
            *header_args,
        ]

    def run(
        self, url: str, duration: int, headers: Sequence[str], server_pid: int, db_pid: int | None = None
    ) -> Measurement:
        server_before, client_before = process_cpu_seconds(server_pid), children_cpu_seconds()
        db_before = process_tree_cpu_seconds(db_pid) if db_pid else 0.0
        started = time.perf_counter()
        result = subprocess.run(
            self._argv(url, duration, headers),
            capture_output=True,
            text=True,
            check=False,
            timeout=duration + 60,
        )
        elapsed = time.perf_counter() - started
        server_cpu = process_cpu_seconds(server_pid) - server_before
        client_cpu = children_cpu_seconds() - client_before
        db_cpu = process_tree_cpu_seconds(db_pid) - db_before if db_pid else None
        if result.returncode != 0:
            raise BenchError(f"{self.kind} load client failed ({result.returncode}):\n{result.stderr or result.stdout}")
        parsed = parse_wrk(result.stdout) if self.kind == "wrk" else json.loads(result.stdout)
        # CPU over wall time of the whole client run (start-up included, so slightly under the loaded figure)
        return Measurement(
            rps=float(parsed["rps"]),
            p50_ms=float(parsed["p50_ms"]),
            p99_ms=float(parsed["p99_ms"]),
            requests=int(parsed["requests"]),
            errors=int(parsed["errors"]),
            server_cpu_pct=round(100 * server_cpu / elapsed, 1),
            client_cpu_pct=round(100 * client_cpu / elapsed, 1),
            db_cpu_pct=None if db_cpu is None else round(100 * db_cpu / elapsed, 1),
        )


def choose_client(preference: str, connections: int) -> LoadClient:
    wrk = shutil.which("wrk")
    if preference == "wrk" and not wrk:
        raise BenchError("--client wrk, but wrk is not on PATH")
    if wrk and preference in ("auto", "wrk"):
        return LoadClient("wrk", connections, f"{wrk_version(wrk)} ({wrk}), 1 thread")
    return LoadClient("python", connections, "benchmarks/loadgen.py (aiohttp, uvloop when installed)")


# ---- phases --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: tuple[str, ...]
    pid: int


def throughput(
    targets: Sequence[Target],
    client: LoadClient,
    *,
    duration: int,
    warmup: int,
    runs: int,
    db_pid: int | None = None,
) -> dict[str, Any]:
    """Warm each target up, then measure them alternately `runs` times; the median of each figure per target.

    With `db_pid` (an embedded postmaster) the CPU its process tree used during each run is recorded too."""
    for target in targets:
        if warmup > 0:
            client.run(target.url, warmup, target.headers, target.pid)
    results: dict[str, list[Measurement]] = {target.name: [] for target in targets}
    for run in range(1, runs + 1):
        for target in targets:
            measured = client.run(target.url, duration, target.headers, target.pid, db_pid)
            results[target.name].append(measured)
            progress(
                f"run {run}/{runs} {target.name:<6} {measured.rps:>10,.0f} req/s  p50 {measured.p50_ms:.2f} ms  "
                f"p99 {measured.p99_ms:.2f} ms  errors {measured.errors}  server CPU {measured.server_cpu_pct:.0f}%  "
                f"client CPU {measured.client_cpu_pct:.0f}%"
                + ("" if measured.db_cpu_pct is None else f"  PostgreSQL CPU {measured.db_cpu_pct:.0f}%")
            )
    return {
        name: {"runs": [asdict(m) for m in measured], "median": median_measurement(measured)}
        for name, measured in results.items()
    }


def median_measurement(measured: Sequence[Measurement]) -> dict[str, float]:
    keys = ["rps", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "client_cpu_pct"]
    if all(m.db_cpu_pct is not None for m in measured):
        keys.append("db_cpu_pct")
    return {key: round(statistics.median(float(getattr(m, key)) for m in measured), 3) for key in keys}


# ---- report --------------------------------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: unwinds every `finally`, so every process started here is stopped.

    A KeyboardInterrupt so that asyncio re-raises it out of the event loop whichever task it lands in (a plain
    BaseException raised inside a task would only be stored on that task), after which asyncio.run cancels the
    remaining tasks and their `finally` blocks run too.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> NoReturn:
    # once only: a second Ctrl-C must not cut the clean-up short (every stop has its own time limit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(signum)


# ---- small shared pieces -------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def medians(rows: Sequence[Mapping[str, Any]], keys: Sequence[str] | None = None) -> dict[str, float]:
    """The median of each numeric key over runs (every key of the first row when `keys` is not given)."""
    names = keys if keys is not None else [k for k, v in rows[0].items() if isinstance(v, int | float)]
    return {key: round(median([float(row[key]) for row in rows]), 6) for key in names}


def alternate(steps: Sequence[tuple[str, Callable[[int], T]]], runs: int) -> dict[str, list[T]]:
    """Run every step once per round, `runs` rounds, in the same order each round (a, b, a, b, ...).

    Alternating spreads slow periods of a noisy machine over all steps, so their medians stay comparable.
    """
    results: dict[str, list[T]] = {name: [] for name, _ in steps}
    for run in range(1, runs + 1):
        for name, step in steps:
            results[name].append(step(run))
    return results


def fernet_key() -> str:
    """A Fernet key (urlsafe base64 of 32 random bytes): what TOKEN_ENCRYPTION_KEY must be."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def start_sandbox(
    children: Children, *, cpus: frozenset[int], port: int, args: Sequence[str] = (), env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m adsvc sandbox --port P [args]` (default data: SandboxConfig()), up once /_sandbox/accounts answers."""
    process = children.spawn(
        "sandbox",
        [sys.executable, "-m", "adsvc", "sandbox", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env or {**os.environ, "PYTHONUNBUFFERED": "1"},
        cpus=cpus,
    )
    wait_until_serving("adsvc sandbox", process, port, children.log_path("sandbox"), path="/_sandbox/accounts")
    return process


def get_json(port: int, path: str) -> Any:
    status, body = http_request(port, "GET", path)
    if status != 200:
        raise BenchError(f"GET {path} on :{port} answered {status}: {body[:300]!r}")
    return json.loads(body)


def main(
    name: str,
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    report: Callable[[dict[str, Any]], str],
) -> None:
    """Parse the options, run, print the report, write `--json`; exit 1 on BenchError, 128+N on a signal."""
    args = parser.parse_args()
    # installed explicitly: a shell starting this in the background would otherwise leave SIGINT ignored
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # pgserver's platformdirs warns on every start when XDG_RUNTIME_DIR is unset; it is harmless (as in adsvc.cli)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        summary = run(args)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except Interrupted as exc:
        print(f"{name}: {exc} received; every process it started has been stopped", file=sys.stderr)
        raise SystemExit(128 + exc.signum) from None
    print(report(summary))
    json_path = getattr(args, "json", None)
    if json_path:
        json_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"\nwrote {json_path}")


@contextlib.contextmanager
def work_folder() -> Iterator[Path]:
    """A new `adsvc-bench-*` folder under the temporary directory, removed on the way out."""
    path = Path(tempfile.mkdtemp(prefix="adsvc-bench-"))
    progress(f"work folder {path}")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- EXPLAIN -------------------------------------------------------------------------------------------------------


async def explain(conn: Any, query: str, *args: Any) -> Any:
    """EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of a statement with its arguments (it runs), as parsed JSON."""
    plan = await conn.fetchval("explain (analyze, buffers, format json) " + query, *args)
    return json.loads(plan) if isinstance(plan, str) else plan


def plan_lines(node: dict[str, Any], depth: int = 0) -> Iterator[str]:
    """One line per plan node: type, join type, relation, index, actual time (ms, per loop), rows, loops."""
    name = node["Node Type"]
    if node.get("Join Type"):
        name = f"{name} ({node['Join Type']})"
    if node.get("Operation"):
        name = f"{node['Operation']} ({name})"
    if node.get("Relation Name"):
        name += f" on {node['Relation Name']}"
    if node.get("Index Name"):
        name += f" using {node['Index Name']}"
    loops = node.get("Actual Loops", 1)
    timing = f"{node.get('Actual Total Time', 0.0):.3f} ms, rows {node.get('Actual Rows', 0)}"
    yield f"{'  ' * depth}{name}: {timing}" + (f" x {loops} loops" if loops != 1 else "")
    for child in node.get("Plans", []):
        yield from plan_lines(child, depth + 1)


# ---- asyncio -------------------------------------------------------------------------------------------------------


def run_async(coroutine: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """asyncio.run (on uvloop when asked and installed) without the 'Task exception was never retrieved' noise a
    Ctrl-C leaves behind: the Interrupted is re-raised here, and the task that carried it stays quiet."""
    loop_factory = None
    if use_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.get_loop().set_exception_handler(_quiet_interrupts)
        return runner.run(coroutine)


def _quiet_interrupts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), Interrupted):
        return
    loop.default_exception_handler(context)
