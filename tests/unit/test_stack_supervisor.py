"""The local stack's Triton supervisor: restarts with growing backoff, gives up past its bound, reports each step.

A stand-in server (a real child process that exits or stays up) replaces tritonserver; the end-to-end
SIGKILL test in tests/e2e/test_gateway_faults.py runs the same code against the real one."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from medinfer.stack import RestartPolicy, Stack
from medinfer.triton.server import TritonStartError


class FakeTriton:
    """Starts ``python -c CODE``; ready while it runs."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.models: tuple[str, ...] = ()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", self.code])

    def wait_ready(self, timeout: float) -> None:
        time.sleep(0.1)
        if self.process is None or self.process.poll() is not None:
            raise TritonStartError("exited")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None


class FakeStack(Stack):
    def __init__(self, home: Path, codes: list[str], policy: RestartPolicy) -> None:
        self.events: list[tuple[float, str]] = []
        super().__init__(home, triton_restart=policy,
                         on_event=lambda line: self.events.append((time.monotonic(), line)))
        self.codes = codes
        self.started: list[FakeTriton] = []

    def _new_triton(self) -> FakeTriton:
        fake = FakeTriton(self.codes.pop(0) if self.codes else "import sys; sys.exit(3)")
        self.started.append(fake)
        return fake

    def run_supervisor(self) -> None:
        self.triton = self._new_triton()
        self.triton.start()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_crash_loop_is_restarted_with_growing_backoff_then_given_up(tmp_path: Path) -> None:
    policy = RestartPolicy(max_restarts=3, window_s=60, initial_backoff_s=0.1, max_backoff_s=1.0, ready_timeout_s=2)
    stack = FakeStack(tmp_path, [], policy)
    try:
        stack.run_supervisor()
        _wait(lambda: stack.failed_child() == "tritonserver")
    finally:
        stack.stop()
    lines = [line for _, line in stack.events]
    assert [ln.split(";")[1].split(" in ")[0].strip() for ln in lines[:3]] == ["restart 1/3", "restart 2/3",
                                                                                "restart 3/3"]
    assert "in 0.1s" in lines[0] and "in 0.2s" in lines[1] and "in 0.4s" in lines[2]
    assert "giving up" in lines[3] and len(lines) == 4
    gaps = [b - a for (a, _), (b, _) in zip(stack.events, stack.events[1:])]
    assert gaps[1] > gaps[0]  # the backoff grows
    assert len(stack.started) == 4 and stack.triton_restarts == 0


def test_a_single_crash_is_restarted_and_the_stack_keeps_running(tmp_path: Path) -> None:
    policy = RestartPolicy(max_restarts=3, initial_backoff_s=0.05)
    stack = FakeStack(tmp_path, ["import sys; sys.exit(1)", "import time; time.sleep(60)"], policy)
    try:
        stack.run_supervisor()
        _wait(lambda: stack.triton_restarts == 1)
        assert stack.failed_child() is None
        running = stack.triton.process
        assert running is not None and running.poll() is None
    finally:
        stack.stop()
    assert running.poll() is not None  # stop() ends the restarted server too
    assert "exited with 1" in stack.events[0][1] and "restarted and ready" in stack.events[1][1]


def test_without_a_restart_policy_an_exit_is_final(tmp_path: Path) -> None:
    stack = Stack(tmp_path, triton_restart=None)
    fake = FakeTriton("import sys; sys.exit(2)")
    fake.start()
    fake.process.wait()
    stack.triton = fake
    assert stack.failed_child() == "tritonserver"
    fake.stop()
