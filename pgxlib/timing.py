"""The cost of a stage: wall and process-CPU seconds and the peak resident memory of the process.

`StageClock` times named stages run one after another; every chapter that reports a stage's cost (scale,
speedup) and `pgx bench` measure with it and with `peak_rss_kib` / `reset_peak_rss`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable


def status_kib(field: str) -> int | None:
    """A ``Vm*`` field of /proc/self/status in KiB, or None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kib() -> int:
    """This process's peak resident memory, KiB: VmHWM of /proc/self/status (ru_maxrss where there is none;
    unlike VmHWM, ru_maxrss keeps the parent's peak across fork and exec)."""
    peak = status_kib("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> int | None:
    """Reset this process's peak resident memory to its current one (Linux: ``5`` into /proc/self/clear_refs) and
    return the current one, KiB; None where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return status_kib("VmRSS")


class StageClock:
    """Wall and process-CPU seconds and peak resident memory (MiB) of named stages, run one after another.

    `peak_reset` stays True while the peak could be reset before every stage (else a stage's peak may be an
    earlier one's)."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak_mib: dict[str, float] = {}
        self.peak_reset = True

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        """`fn()`, timed as stage `name`."""
        self.peak_reset = reset_peak_rss() is not None and self.peak_reset
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        self.wall[name] = time.perf_counter() - w
        self.cpu[name] = time.process_time() - c
        self.peak_mib[name] = peak_rss_kib() / 1024
        return out
