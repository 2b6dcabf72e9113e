"""Run the CLI in a child process under resource limits: memory (address space) and CPU time are bounded by
the kernel, so a test of "bounded time and memory" fails by a refused allocation or a SIGXCPU, not by a timer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_MB = 1024  # address space (thread stacks and malloc arenas reserve more than they touch)
MAX_RSS_MB = 500  # peak resident memory any input may take (issue 17: < 500 MB), checked after the run
CPU_S = 20  # CPU seconds: a hang guard, far above the < 5 s an input may take (2 shared cores in CI)


_LAUNCH = ("import os, resource, sys; m, c = int(sys.argv[1]), int(sys.argv[2]); "
           "resource.setrlimit(resource.RLIMIT_AS, (m, m)); resource.setrlimit(resource.RLIMIT_CPU, (c, c)); "
           "os.execv(sys.argv[3], sys.argv[3:])")


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, memory_mb: int = MEMORY_MB,
            cpu_s: int = CPU_S, stdout: int | None = None, wall_s: float = 120,
            max_rss_mb: int | None = MAX_RSS_MB) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS in KiB) of `aicsolve ARGS` under the limits; AssertionError when
    the peak RSS passed max_rss_mb (None: not checked).

    stdout: a file descriptor to write to instead of capturing (e.g. /dev/full).
    """
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # A small launcher sets the limits and execs the CLI: a forked copy of this (large) process would count
        # in the child's peak RSS, and preexec_fn is not safe with threads.
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(memory_mb << 20), str(cpu_s), sys.executable,
                                 "-m", "solver.cli", *args], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                                stdout=out if stdout is None else stdout, stderr=err)
        deadline = time.monotonic() + wall_s
        while True:  # wait4 (not communicate) to read this child's own peak memory
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = err.read().decode(errors="replace")
        assert max_rss_mb is None or usage.ru_maxrss < max_rss_mb << 10, \
            f"peak RSS {usage.ru_maxrss >> 10} MiB > {max_rss_mb} MiB: aicsolve {' '.join(args)[:200]}"
        return proc.returncode, out.read().decode(errors="replace"), text, usage.ru_maxrss
