"""`adsvc dev`'s restart policy: 1 s doubling to 30 s while a child keeps dying, back to 1 s after it stayed up a
minute; the supervisor restarts a real dead process after its backoff and stops every child."""

from __future__ import annotations

import subprocess
import sys

from adsvc.supervision import Backoff, Child, Supervisor, describe_exit


def test_backoff_doubles_from_one_second_to_thirty():
    child, backoff = Child(role="worker", argv=[], env={}), Backoff()
    delays = []
    for _ in range(8):
        delays.append(child.died(child.started_at + 2, backoff))  # each run lasted 2 s
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_starts_over_after_a_child_stayed_up_a_minute():
    child, backoff = Child(role="web", argv=[], env={}), Backoff()
    for _ in range(4):
        child.died(child.started_at + 1, backoff)
    child.started_at = 1000.0
    assert child.died(1000.0 + 60, backoff) == 1
    child.started_at = 1061.0  # restarted, and dead again within a second
    assert child.died(1062.0, backoff) == 2


def test_exit_is_described_by_signal_name_or_code():
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(3) == "exit code 3"


def _python(code: str):
    def spawn(child: Child) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)

    return spawn


def test_supervisor_restarts_a_dead_child_after_its_backoff_and_stops_it():
    now = [0.0]
    said: list[str] = []
    with Supervisor(spawn=_python("import sys; sys.exit(3)"), clock=lambda: now[0], say=said.append) as supervisor:
        child = supervisor.start("worker", ["worker"], {})
        assert child.process is not None
        first = child.process
        first.wait(timeout=30)
        supervisor.tick()
        assert said[0].startswith(
            f"adsvc dev: worker (pid {first.pid}) died with exit code 3 after 0 s; restarting it in 1 s"
        )
        now[0] = 0.5
        supervisor.tick()
        assert child.process is first  # not before its backoff
        now[0] = 1.0
        supervisor.tick()
        assert child.process is not first and said[1] == f"adsvc dev: worker restarted (pid {child.process.pid})"
        child.process.wait(timeout=30)
        now[0] = 2.0
        supervisor.tick()
        assert "restarting it in 2 s" in said[2]

    sleeper = Supervisor(spawn=_python("import time; time.sleep(60)"))
    running = sleeper.start("web", ["serve"], {})
    sleeper.stop(timeout=10)
    assert running.process is not None and running.process.returncode is not None
