"""The machine a run measured on, its load, and CPU/memory counters of processes."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from importlib import metadata
from typing import Any

import psutil

__all__ = ["cpu_seconds", "load", "machine_info"]

_PACKAGES = (
    "segwidgets",
    "polars",
    "httpx",
    "httpcore",
    "h11",
    "httptools",
    "starlette",
    "uvicorn",
    "email-validator",
    "sortedcontainers",
    "ipywidgets",
    "psutil",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def load() -> dict[str, float]:
    """1/5/15-minute load averages and the load per core (above 1.0: overloaded)."""
    one, five, fifteen = os.getloadavg()
    cores = os.cpu_count() or 1
    return {"load1": one, "load5": five, "load15": fifteen, "load1_per_core": one / cores}


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and package versions."""
    memory = psutil.virtual_memory()
    return {
        "cpu": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(memory.total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in _PACKAGES},
    }


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds a process used so far (this one by default)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)
