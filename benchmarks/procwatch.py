"""Processes and the machine as /proc shows them: others' CPU share, load, a stage's life and peak.

Other work on the machine only ever adds time to a measure, so every measure records the share of
the cores other processes used meanwhile, and can first wait for a quiet moment.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
TICK = os.sysconf("SC_CLK_TCK")  # the kernel's clock ticks per second, the unit of /proc/*/stat
QUIET = 0.1  # a measure counts as undisturbed while other processes use under this share of cores


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the kernel gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict[str, str]:
    """What the numbers were taken on (torch's own details are added by the epochs module)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def parse_cpu_line(stat: str) -> tuple[float, float]:
    """Busy and total CPU seconds from the text of /proc/stat (its first, all-cores line)."""
    jiffies = [int(v) for v in stat.split("\n", 1)[0].split()[1:]]
    idle = jiffies[3] + jiffies[4]  # idle and iowait
    return (sum(jiffies) - idle) / TICK, sum(jiffies) / TICK


def machine_cpu_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot, summed over its cores."""
    return parse_cpu_line(Path("/proc/stat").read_text())


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its reaped children (DVC and, through it, its stages)."""
    return sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def with_others_share(run: Callable[[], T]) -> tuple[T, float]:
    """Run `run`; its result and the share of all cores that other processes used meanwhile."""
    busy0, total0 = machine_cpu_seconds()
    own0 = own_cpu_seconds()
    result = run()
    busy1, total1 = machine_cpu_seconds()
    others = (busy1 - busy0) - (own_cpu_seconds() - own0)
    return result, max(0.0, others / max(total1 - total0, 1e-9))


def wait_for_quiet(max_wait: float, share: float = QUIET) -> float:
    """Wait (at most max_wait s) for a second in which others use under `share` of the cores.

    Torch's threads wait for each other at every operation, so one busy core elsewhere can slow
    an epoch several times over; waiting for a quiet moment keeps the numbers about us. Returns
    the others' share in the last second waited (0 without waiting when max_wait is 0).
    """
    if max_wait <= 0:
        return 0.0
    deadline = time.perf_counter() + max_wait
    while True:
        _, busy = with_others_share(lambda: time.sleep(1.0))
        if busy < share or time.perf_counter() >= deadline:
            return busy


def start_time(pid: int) -> float:
    """The kernel's start time of process `pid`, in CLOCK_BOOTTIME seconds (10 ms resolution)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Field 22, counted after the parenthesised name (which may itself hold spaces or ")").
    return int(stat.rsplit(")", 1)[1].split()[19]) / TICK


def peak_bytes(status: str) -> int:
    """The peak resident memory (VmHWM) from the text of /proc/<pid>/status; 0 if absent."""
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(hwm.group(1)) * 1024 if hwm else 0


@dataclass
class StageProcess:
    """A stage's own process as the watcher saw it."""

    command: str
    started: float  # the kernel's start time, in CLOCK_BOOTTIME seconds
    last_seen: float  # the last poll that found it running, on the same clock
    peak_bytes: int

    @property
    def seconds(self) -> float:
        """How long it lived: start-up, imports and work (short by at most one poll)."""
        return self.last_seen - self.started


class StageWatcher(threading.Thread):
    """Polls /proc for `python -m stages.<name> ...` processes in `cwd`: lifetime and peak RSS.

    A lifetime runs from the start time the kernel records to the last poll that found the
    process, so it may be short by up to `interval` s. The peak is the kernel's VmHWM (the
    high-water mark /usr/bin/time reports), so growth in a process's last `interval` s before
    it exits could be missed.
    """

    def __init__(self, cwd: Path, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.cwd = str(cwd.resolve())
        self.interval = interval
        self.seen: dict[int, StageProcess] = {}
        self.done = threading.Event()

    def run(self) -> None:
        """Poll until stop() is called."""
        while not self.done.is_set():
            self.poll()
            self.done.wait(self.interval)

    def poll(self) -> None:
        """One look at every process."""
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                # The command line is read until it is a stage's: the shell DVC starts may exec
                # the stage in the same process.
                if pid not in self.seen:
                    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
                    is_stage = len(args) > 2 and args[1] == "-m" and args[2].startswith("stages.")
                    if not is_stage or os.readlink(f"/proc/{pid}/cwd") != self.cwd:
                        continue
                    command = " ".join(["python", *args[1:]]).strip()
                    self.seen[pid] = StageProcess(command, start_time(pid), now, 0)
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # it exited meanwhile
                continue
            process = self.seen[pid]
            process.last_seen = now
            process.peak_bytes = max(process.peak_bytes, peak_bytes(status))

    def stop(self) -> dict[str, StageProcess]:
        """Stop watching; the processes seen, by their command line."""
        self.done.set()
        self.join()
        return {p.command: p for p in self.seen.values()}
