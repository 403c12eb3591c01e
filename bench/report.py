"""Machine description and the marked sections of BENCHMARKS.md the benchmarks own."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import psutil

from forecasting.results import versions

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = psutil.virtual_memory().total / 2**30
    v = versions()
    libs = ", ".join(f"{k} {v[k]}" for k in ("python", "dask", "distributed", "pandas", "numpy", "scikit-learn", "statsmodels"))
    return f"{cores} cores ({platform.processor() or platform.machine()}), {mem:.0f} GiB RAM, {platform.system()}; {libs}"


def replace_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
