"""PNG plots for backtest reports: valid files, written atomically, no global state."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfoNotFoundError

import matplotlib
import numpy as np
import pandas as pd
import pytest

from forecasting.reports import backtest_plots, plots
from forecasting.reports.backtest_plots import plot_error_by_horizon, plot_leaderboard
from forecasting.reports.plots import plot_region_forecast

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- data


def make_region(hours_history: int = 24 * 14, hours_window: int = 24 * 7, seed: int = 0):
    """An hourly history tail and a forecast window with NaNs in both."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-03-18", periods=hours_history + hours_window, freq="h", tz="UTC")
    level = 50 + 30 * np.sin(2 * np.pi * (idx.hour - 6) / 24)
    y = rng.poisson(level).astype(float)
    y[10:15] = np.nan
    history = pd.Series(y[:hours_history], index=idx[:hours_history], name="orders")
    yhat = level[hours_history:]
    window = pd.DataFrame(
        {"actual": y[hours_history:], "yhat": yhat, "q10": yhat * 0.8, "q90": yhat * 1.2},
        index=idx[hours_history:],
    )
    window.iloc[-20:, 0] = np.nan
    window.iloc[3, 1:] = np.nan
    return history, window


def make_metrics(models=("seasonal_naive", "ets", "gbm"), regions=5, buckets=("d01-07", "d08-14", "d15-21"), seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(regions):
        for m_i, model in enumerate(models):
            for b_i, bucket in enumerate(buckets):
                rows.append({"region": f"r{r:03d}", "model": model, "bucket": bucket, "mase": (1.0 - 0.1 * m_i) * (1 + 0.05 * b_i) * rng.lognormal(0, 0.1)})
    frame = pd.DataFrame(rows)
    frame.loc[::7, "mase"] = np.nan
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # buckets out of order


def make_leaderboard(models=("seasonal_naive", "ets", "gbm"), regions=6, seed=2):
    rng = np.random.default_rng(seed)
    board = pd.DataFrame(
        [{"region": f"r{r:03d}", "model": m, "mase": (1.0 - 0.15 * i) * rng.lognormal(0, 0.2)} for r in range(regions) for i, m in enumerate(models)]
    )
    board.loc[1, "mase"] = np.nan
    best = board.dropna(subset=["mase"]).sort_values("mase").groupby("region", as_index=False).first()
    naive = board[board["model"] == "seasonal_naive"].set_index("region")["mase"]
    best["seasonal_naive_mase"] = best["region"].map(naive)
    return board, best[["region", "model", "mase", "seasonal_naive_mase"]]


# --------------------------------------------------------------------------- helpers


def assert_png(path, folder_files=None):
    assert path.exists()
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5_000
    names = sorted(os.listdir(path.parent))
    assert not [n for n in names if "tmp" in n or n.startswith(".")], names
    if folder_files is not None:
        assert names == sorted(folder_files)


@pytest.fixture
def captured(monkeypatch):
    """Snapshots of each figure drawn (titles, tick labels, legends), taken before it is saved.

    The figure is cleared once written, so everything is copied out here.
    """
    shots = []
    original = plots.save_png

    def spy(fig, path):
        fig.canvas.draw()
        axes = []
        for ax in fig.axes:
            legend = ax.get_legend()
            axes.append(
                {
                    "title": ax.get_title(),
                    "xlabel": ax.get_xlabel(),
                    "ylabel": ax.get_ylabel(),
                    "xticks": list(ax.get_xticks()),
                    "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
                    "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
                    "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
                    "lines": [line.get_xdata() for line in ax.get_lines()],
                    "ydata": {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()},
                    "y_inverted": bool(ax.yaxis_inverted()),
                    "bar_widths": [p.get_width() for p in ax.patches],
                }
            )
        shots.append(
            {
                "axes": axes,
                "suptitle": fig._suptitle.get_text() if fig._suptitle else "",
                "fig_legends": [t.get_text() for lg in fig.legends for t in lg.get_texts()],
                "size": tuple(fig.get_size_inches()),
            }
        )
        return original(fig, path)

    for module in (plots, backtest_plots):
        monkeypatch.setattr(module, "save_png", spy)
    return shots


# --------------------------------------------------------------------------- region forecast


def test_region_forecast_writes_png(tmp_path, captured):
    history, window = make_region()
    out = plot_region_forecast(tmp_path / "r001.png", "r001", history, window, "gbm", timezone="Europe/Berlin")
    assert out == tmp_path / "r001.png"
    assert_png(out, ["r001.png"])
    (ax,) = captured[0]["axes"]
    assert ax["title"] == "r001: gbm forecast vs actual"
    assert "Europe/Berlin" in ax["xlabel"] and ax["ylabel"]
    assert "80% interval" in ax["legend"] and "history" in ax["legend"] and "actual" in ax["legend"]
    assert captured[0]["size"] == (10.0, 4.0)


def test_region_forecast_ticks_in_local_time(tmp_path, captured):
    from matplotlib import dates as mdates

    history, window = make_region(hours_history=48, hours_window=48)
    plot_region_forecast(tmp_path / "tokyo.png", "tokyo", history, window, "ets", timezone="Asia/Tokyo")
    (ax,) = captured[0]["axes"]
    ticks = [mdates.num2date(x, tz="Asia/Tokyo") for x in ax["xticks"]]
    assert ticks and all(t.minute == 0 and t.hour % 6 == 0 for t in ticks), ticks
    # The cutoff is drawn at the first window timestamp (a vertical line: two equal x values).
    cutoff = mdates.date2num(window.index[0].tz_convert("UTC").to_pydatetime())
    assert any(len(x) == 2 and np.allclose(np.asarray(x, dtype=float), cutoff) for x in ax["lines"])


def test_region_forecast_naive_index_all_nan_actuals_and_empty(tmp_path):
    history, window = make_region(hours_history=72, hours_window=24)
    history.index = history.index.tz_localize(None)
    window["actual"] = np.nan
    assert_png(plot_region_forecast(tmp_path / "a.png", "r", history, window, "m"))
    empty_hist = history.iloc[:0]
    assert_png(plot_region_forecast(tmp_path / "b.png", "r", empty_hist, window, "m"))
    assert_png(plot_region_forecast(tmp_path / "c.png", "r", empty_hist, window.iloc[:1], "m"))
    assert_png(plot_region_forecast(tmp_path / "d.png", "r", empty_hist, window.iloc[:0], "m"), ["a.png", "b.png", "c.png", "d.png"])


def test_region_forecast_rejects_bad_input(tmp_path):
    history, window = make_region(hours_history=48, hours_window=24)
    with pytest.raises(ValueError, match="q90"):
        plot_region_forecast(tmp_path / "x.png", "r", history, window.drop(columns="q90"), "m")
    with pytest.raises(ZoneInfoNotFoundError, match="Mars/Olympus_Mons"):
        plot_region_forecast(tmp_path / "x.png", "r", history, window, "m", timezone="Mars/Olympus_Mons")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- error by horizon


def test_error_by_horizon_writes_png(tmp_path, captured):
    metrics = make_metrics()
    assert_png(plot_error_by_horizon(tmp_path / "h.png", metrics), ["h.png"])
    (ax,) = captured[0]["axes"]
    assert ax["xticklabels"] == ["d01-07", "d08-14", "d15-21"]
    assert set(ax["legend"]) == {"seasonal_naive", "ets", "gbm", "seasonal naive level"}
    assert ax["title"] and ax["xlabel"] and ax["ylabel"]


def test_error_by_horizon_means_ignore_nan(tmp_path, captured):
    metrics = pd.DataFrame(
        {
            "region": ["a", "b", "c", "a", "b"],
            "model": ["gbm"] * 5,
            "bucket": ["d08-14", "d08-14", "d08-14", "d01-07", "d01-07"],
            "mase": [0.5, np.nan, 0.7, 0.9, np.nan],
        }
    )
    assert_png(plot_error_by_horizon(tmp_path / "h.png", metrics))
    np.testing.assert_allclose(captured[0]["axes"][0]["ydata"]["gbm"], [0.9, 0.6])


@pytest.mark.parametrize(
    "metrics",
    [
        pd.DataFrame({"model": ["gbm"], "bucket": ["d01-07"], "mase": [0.8]}),
        pd.DataFrame({"model": ["gbm", "gbm"], "bucket": ["d01-07", "d08-14"], "mase": [np.nan, np.nan]}),
        pd.DataFrame({"model": ["gbm", "ets"], "bucket": ["d01-07", "d01-07"], "mase": [np.nan, 1.2]}),
        pd.DataFrame({"model": pd.Series([], dtype=object), "bucket": pd.Series([], dtype=object), "mase": pd.Series([], dtype=float)}),
    ],
    ids=["single-point", "all-nan", "one-model-nan", "empty"],
)
def test_error_by_horizon_edge_cases(tmp_path, metrics):
    assert_png(plot_error_by_horizon(tmp_path / "h.png", metrics), ["h.png"])


def test_error_by_horizon_rejects_missing_column(tmp_path):
    with pytest.raises(ValueError, match="bucket"):
        plot_error_by_horizon(tmp_path / "h.png", pd.DataFrame({"model": ["a"], "mase": [1.0]}))


# --------------------------------------------------------------------------- leaderboard


def test_leaderboard_writes_png(tmp_path, captured):
    board, champions = make_leaderboard()
    assert_png(plot_leaderboard(tmp_path / "lb.png", board, champions), ["lb.png"])
    left, right = captured[0]["axes"]
    means = board.groupby("model")["mase"].mean().sort_values()
    # Best (lowest mean MASE) at the top: the y axis is inverted, so labels read top-down.
    assert left["yticklabels"] == list(means.index)
    assert left["y_inverted"]
    assert any("seasonal naive" in text for text in captured[0]["fig_legends"])
    assert sum(right["bar_widths"]) == len(champions)
    assert left["title"] and right["title"] and left["xlabel"] and right["xlabel"]


def test_leaderboard_nan_single_model_single_region(tmp_path):
    # Single model, NaN scores, a region with no champion.
    board = pd.DataFrame({"region": ["a", "b", "c"], "model": ["gbm"] * 3, "mase": [0.7, np.nan, 0.9]})
    champions = pd.DataFrame({"region": ["a", "b", "c"], "model": ["gbm", "gbm", None], "mase": [0.7, np.nan, np.nan], "seasonal_naive_mase": [1.1, np.nan, 1.2]})
    assert_png(plot_leaderboard(tmp_path / "one_model.png", board, champions))
    # Single region, a model with only NaN scores, no baseline at all.
    board = pd.DataFrame({"region": ["a", "a"], "model": ["gbm", "ets"], "mase": [0.7, np.nan]})
    champions = pd.DataFrame({"region": ["a"], "model": ["gbm"], "mase": [0.7], "seasonal_naive_mase": [np.nan]})
    assert_png(plot_leaderboard(tmp_path / "one_region.png", board, champions))
    # Everything NaN.
    board = pd.DataFrame({"region": ["a"], "model": ["gbm"], "mase": [np.nan]})
    champions = pd.DataFrame({"region": ["a"], "model": [None], "mase": [np.nan], "seasonal_naive_mase": [np.nan]})
    assert_png(plot_leaderboard(tmp_path / "all_nan.png", board, champions), ["all_nan.png", "one_model.png", "one_region.png"])


def test_leaderboard_baseline_falls_back_to_leaderboard(tmp_path, captured):
    board, champions = make_leaderboard()
    champions["seasonal_naive_mase"] = np.nan
    plot_leaderboard(tmp_path / "lb.png", board, champions)
    expected = board.loc[board["model"] == "seasonal_naive", "mase"].mean()
    assert captured[0]["fig_legends"] == [f"seasonal naive mean MASE ({expected:.2f})"]


def test_leaderboard_rejects_missing_column(tmp_path):
    board, champions = make_leaderboard()
    with pytest.raises(ValueError, match="seasonal_naive_mase"):
        plot_leaderboard(tmp_path / "lb.png", board, champions.drop(columns="seasonal_naive_mase"))


# --------------------------------------------------------------------------- files and global state


def test_replaces_existing_file_and_failure_keeps_old_one(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "h.png"
    target.write_bytes(b"old")
    assert_png(plot_error_by_horizon(target, make_metrics()), ["h.png"])
    good = target.read_bytes()

    def broken_savefig(self, fh, **kwargs):
        fh.write(PNG_MAGIC + b"half a picture")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk on fire"):
        plot_error_by_horizon(target, make_metrics())
    assert target.read_bytes() == good
    assert os.listdir(tmp_path) == ["h.png"]


def test_creates_missing_folder(tmp_path):
    out = plot_error_by_horizon(tmp_path / "a" / "b" / "h.png", make_metrics())
    assert_png(out)


def test_no_global_matplotlib_state_changes(tmp_path):
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    figs_before = plt.get_fignums()
    history, window = make_region()
    board, champions = make_leaderboard()
    plot_region_forecast(tmp_path / "r.png", "r", history, window, "gbm", timezone="America/New_York")
    plot_error_by_horizon(tmp_path / "h.png", make_metrics())
    plot_leaderboard(tmp_path / "lb.png", board, champions)
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figs_before == []


def test_safe_in_worker_threads(tmp_path):
    history, window = make_region()
    metrics = make_metrics()
    board, champions = make_leaderboard()
    jobs = []
    for i in range(4):
        jobs.append((plot_region_forecast, (tmp_path / f"r{i}.png", f"r{i}", history, window, "gbm", "Europe/Berlin")))
        jobs.append((plot_error_by_horizon, (tmp_path / f"h{i}.png", metrics)))
        jobs.append((plot_leaderboard, (tmp_path / f"lb{i}.png", board, champions)))
    with ThreadPoolExecutor(max_workers=6) as pool:
        paths = list(pool.map(lambda job: job[0](*job[1]), jobs))
    for path in paths:
        assert_png(path)
    assert len(os.listdir(tmp_path)) == len(jobs)


def test_import_is_cheap():
    code = "import sys, forecasting.reports.plots, forecasting.reports.backtest_plots; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
