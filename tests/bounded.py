"""Run the CLI in a child process under resource limits: memory (address space) and CPU time are bounded by
the kernel, so a test of "bounded time and memory" fails by a refused allocation or a SIGXCPU, not by a timer."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_MB = 500  # address space: more than any refused input may take (issue 17: < 500 MB)
CPU_S = 20  # CPU seconds: a hang guard, far above the < 5 s an input may take (2 shared cores in CI)


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, memory_mb: int = MEMORY_MB,
            cpu_s: int = CPU_S, stdout: int | None = None, wall_s: float = 120) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS in KiB) of `aicsolve ARGS` under the limits.

    stdout: a file descriptor to write to instead of capturing (e.g. /dev/full).
    """
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "solver.cli", *args], cwd=cwd, env=full_env,
                                stdin=subprocess.DEVNULL, stdout=out if stdout is None else stdout, stderr=err,
                                preexec_fn=limit)
        deadline, hwm = time.monotonic() + wall_s, 0
        while True:  # wait4 (not communicate) to read this child's own peak memory
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, _vm_hwm_kib(proc.pid))
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss also counts the forked copy of this (test) process before exec; VmHWM, sampled while the
        # child runs, is the program's own peak (a run shorter than one poll falls back to ru_maxrss)
        return proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), \
            hwm or usage.ru_maxrss


def _vm_hwm_kib(pid: int) -> int:
    """The child's peak resident set so far (KiB), 0 where /proc does not say."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0
