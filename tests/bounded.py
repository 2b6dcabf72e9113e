"""Run the CLI in a child process under resource limits: memory (address space) and CPU time are bounded by
the kernel, so a test of "bounded time and memory" fails by a refused allocation or a SIGXCPU, not by a timer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_MB = 1024  # address space (thread stacks and malloc arenas reserve more than they touch)
MAX_RSS_MB = 500  # peak resident memory any input may take (issue 17: < 500 MB), checked after the run
CPU_S = 20  # CPU seconds: a hang guard, far above the < 5 s an input may take (2 shared cores in CI)


# The launcher sets the limits, forks the CLI and reports the CLI's own peak RSS (wait4) to the file named
# first: a process forked straight from this (large) one would count this one's memory in its peak.
_LAUNCH = """
import os, resource, signal, sys
out, mem, cpu, argv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
signal.signal(signal.SIGTERM, lambda *a: os.kill(pid, signal.SIGKILL))
_, status, usage = os.wait4(pid, 0)
open(out, "w").write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_cli(
    *args: str,
    cwd: Path = ROOT,
    env: dict | None = None,
    memory_mb: int = MEMORY_MB,
    cpu_s: int = CPU_S,
    stdout: int | None = None,
    wall_s: float = 120,
    max_rss_mb: int | None = MAX_RSS_MB,
) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS in KiB) of `aicsolve ARGS` under the limits; AssertionError when
    the peak RSS passed max_rss_mb (None: not checked).

    stdout: a file descriptor to write to instead of capturing (e.g. /dev/full).
    """
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as d:
        rss_file = os.path.join(d, "rss")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _LAUNCH,
                rss_file,
                str(memory_mb << 20),
                str(cpu_s),
                sys.executable,
                "-m",
                "solver.cli",
                *args,
            ],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out if stdout is None else stdout,
            stderr=err,
        )
        try:
            proc.wait(wall_s)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the launcher kills the CLI
            proc.wait(30)
        rss = int(open(rss_file).read()) if os.path.exists(rss_file) else 0
        out.seek(0)
        err.seek(0)
        text = err.read().decode(errors="replace")
        assert max_rss_mb is None or rss < max_rss_mb << 10, (
            f"peak RSS {rss >> 10} MiB > {max_rss_mb} MiB: aicsolve {' '.join(args)[:200]}"
        )
        return proc.returncode, out.read().decode(errors="replace"), text, rss
