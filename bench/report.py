"""Machine description and the marked sections of BENCHMARKS.md the benchmarks own."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import psutil

from bench.measure import cores
from forecasting.store.exports import versions

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine(extra: tuple[str, ...] = ()) -> str:
    """Cores, memory, system and library versions (``extra``: more distributions, ``java`` for the JVM)."""
    n_cores = cores()
    mem = psutil.virtual_memory().total / 2**30
    v = versions()
    libs = ", ".join(f"{k} {v[k]}" for k in ("python", "dask", "distributed", "pandas", "numpy", "scikit-learn", "statsmodels"))
    for name in extra:
        libs += f", {name} {_version(name)}"
    return f"{n_cores} cores ({platform.processor() or platform.machine()}), {mem:.0f} GiB RAM, {platform.system()}; {libs}"


def _version(name: str) -> str:
    if name == "java":
        import shutil
        import subprocess

        java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
        try:
            out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
            return out.split('"')[1] if '"' in out else "?"
        except (OSError, TypeError, subprocess.TimeoutExpired):
            return "not installed"
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def replace_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


# --- tables, targets and plots shared by the comparisons (rows: see bench.measure) -------------------

RESULTS = Path(__file__).resolve().parent / "results"

HEADER = ("| workload | tool | workers | start-up (s) | wall, compute only (s) | wall with start-up (s) | CPU utilisation "
          "| speed-up, compute only | speed-up with start-up | parallel efficiency | status |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def _f(value, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def markdown_table(rows: list[dict]) -> str:
    """One line per row; a skipped or failed tool keeps its line, with the reason."""
    lines = [HEADER]
    for r in rows:
        status = "ok" if r["status"] == "ok" else f"{r['status'].upper()}: {r['reason']}".replace("|", "/")
        lines.append(
            f"| {r['workload']} | {r['tool']} | {r['workers']} | {_f(r['startup_s'])} | {_f(r['wall_s'])} "
            f"| {_f(r['wall_with_startup_s'])} | {_f(r['cpu_util'], '.0%')} | {_f(r['speedup'])} "
            f"| {_f(r['speedup_with_startup'])} | {_f(r['efficiency'], '.0%')} | {status} |"
        )
    return "\n".join(lines)


def targets_text(targets: list[dict]) -> str:
    """``- target: PASS`` or ``- target: MISSED (by ...)``, one line each."""
    return "\n".join(f"- {t['target']}: **{t['result']}**" + (f" (measured {t['value']})" if t.get("value") is not None else "")
                     for t in targets)


def print_targets(targets: list[dict]) -> None:
    for t in targets:
        value = "" if t.get("value") is None else f"  [{t['value']}]"
        print(f"{'PASS  ' if t['ok'] else 'MISSED'} {t['target']}: {t['result']}{value}")


def plot_speedups(rows: list[dict], path: Path, title: str = "Speed-up over the serial loop") -> Path | None:
    """Horizontal bars of speed-up per tool (compute only, and with start-up), one panel per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    if not workloads:
        return None
    heights = [max(1, sum(1 for r in rows if r["workload"] == w)) for w in workloads]
    fig, axes = plt.subplots(len(workloads), 1, figsize=(9, 1.2 + 0.55 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, w in zip(axes[:, 0], workloads):
        sub = [r for r in rows if r["workload"] == w]
        ys = range(len(sub))
        compute = [r["speedup"] or 0 for r in sub]
        startup = [r["speedup_with_startup"] or 0 for r in sub]
        ax.barh([y + 0.2 for y in ys], compute, height=0.4, label="compute only", color="tab:blue")
        ax.barh([y - 0.2 for y in ys], startup, height=0.4, label="with start-up", color="tab:orange")
        ax.set_yticks(list(ys), [r["tool"] + ("" if r["status"] == "ok" else f" ({r['status']})") for r in sub], fontsize=8)
        ax.invert_yaxis()
        top = max(r["workers"] for r in sub)
        ax.axvline(top, color="grey", ls="--", lw=1)
        ax.text(top, -0.7, f" ideal ({top} workers)", fontsize=7, color="grey", va="bottom")
        for y, c in zip(ys, compute):
            if c:
                ax.text(c, y + 0.2, f" {c:.2f}", va="center", fontsize=7)
        ax.set_title(w, fontsize=9)
        ax.set_xlim(0, max(top, *compute, *startup) * 1.15)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    axes[-1, 0].set_xlabel("speed-up over the serial loop (higher is better)")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def save_figure(fig, path) -> Path:
    """Lay out ``fig``, write it to ``path`` (folders made), close it; return the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_json(name: str, result: dict, folder: Path = RESULTS) -> Path:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path
