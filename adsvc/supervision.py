"""`adsvc dev`'s child processes (sandbox, web, worker) kept running: one that dies is restarted after a backoff that
doubles while it keeps dying, with a line saying which child died, how, and when it comes back; stopping the
supervisor stops them all. Blocking process control is fine here: this runs in the CLI process, with no event loop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Backoff:
    """1 s, 2 s, 4 s ... up to 30 s between restarts; a child that stayed up a minute starts again at 1 s."""

    initial_seconds: float = 1.0
    max_seconds: float = 30.0
    stable_seconds: float = 60.0

    def delay(self, consecutive_failures: int) -> float:
        return float(min(self.max_seconds, self.initial_seconds * 2 ** max(0, consecutive_failures - 1)))


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Child:
    """One supervised command and what the supervisor knows of its runs."""

    role: str
    argv: list[str]
    env: dict[str, str]
    quiet: bool = False
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive deaths, each after less than Backoff.stable_seconds up
    restart_at: float | None = None

    def died(self, now: float, backoff: Backoff) -> float:
        """Count a death noticed at `now`; returns the seconds to wait before the next start."""
        if now - self.started_at >= backoff.stable_seconds:
            self.failures = 0
        self.failures += 1
        delay = backoff.delay(self.failures)
        self.restart_at = now + delay
        return delay


def spawn_adsvc(child: Child) -> subprocess.Popen[bytes]:
    """`python -m adsvc <argv>` with the child's environment; a quiet child's stdout is dropped."""
    output = subprocess.DEVNULL if child.quiet else None
    return subprocess.Popen(
        [sys.executable, "-m", "adsvc", *child.argv], env=child.env, stdin=subprocess.DEVNULL, stdout=output
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Supervisor:
    spawn: Callable[[Child], subprocess.Popen[bytes]] = spawn_adsvc
    backoff: Backoff = field(default_factory=Backoff)
    clock: Clock = time.monotonic
    say: Callable[[str], None] = _say
    children: list[Child] = field(default_factory=list)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def roster(self) -> str:
        """`web (pid 12), worker (pid 13)`: what runs now."""
        return ", ".join(f"{child.role} (pid {child.process.pid})" for child in self.children if child.process)

    def start(self, role: str, argv: list[str], env: dict[str, str], *, quiet: bool = False) -> Child:
        child = Child(role=role, argv=argv, env=env, quiet=quiet)
        self._run(child)
        self.children.append(child)
        return child

    def _run(self, child: Child) -> None:
        child.process = self.spawn(child)
        child.started_at = self.clock()
        child.restart_at = None

    def tick(self) -> None:
        """Notice deaths and restart children whose backoff has passed; call it a few times a second."""
        now = self.clock()
        for child in self.children:
            assert child.process is not None
            if child.restart_at is None:
                if child.process.poll() is None:
                    continue
                uptime = now - child.started_at
                delay = child.died(now, self.backoff)
                at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
                self.say(f"adsvc dev: {child.role} (pid {child.process.pid}) died with "
                         f"{describe_exit(child.process.returncode)} after {uptime:.0f} s; "
                         f"restarting it in {delay:g} s (at {at})")  # fmt: skip
            elif now >= child.restart_at:
                self._run(child)
                self.say(f"adsvc dev: {child.role} restarted (pid {child.process.pid})")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM every running child, then SIGKILL whichever has not exited within `timeout`."""
        running = [child.process for child in self.children if child.process and child.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
