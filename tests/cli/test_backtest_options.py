"""``forecasting backtest``: ``--start``/``--end``, ``--store``, and ``--cluster local --workers N``."""

from __future__ import annotations

import logging
import os
import re

import pandas as pd
import pytest

from forecasting import errors
from forecasting.cli.main import main
from forecasting.store.backtests import BacktestStore
from forecasting.store.runs import ResultsStore

# The synthetic cache (tests/conftest.py) holds 2024-01-01 .. 2024-03-03: with a 2-day horizon the
# latest cutoff is 2024-03-02, and weekly cutoffs from 2024-02-12 run to 2024-02-26.
START = "2024-02-12"


def _backtest(cache, out, *extra) -> list[str]:
    return ["--log-level", "WARNING", "backtest", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
            "--regions", "r000", "--models", "seasonal_naive", "--horizon", "2D", "--step", "7D", "--no-plots", *extra]


def _tasks(printed: str, url: str) -> pd.DataFrame:
    """The task rows, in the store at ``url``, of the backtest whose summary was ``printed``."""
    (bt_id,) = re.findall(r"^backtest (\S+):", printed, flags=re.M)
    store = BacktestStore(url)
    try:
        return store.tasks(bt_id)
    finally:
        store.close()


def _default_url(out) -> str:
    return f"sqlite:///{out.resolve() / 'results.sqlite'}"


def test_end_is_the_last_cutoff(capsys, synthetic_cache, tmp_path):
    assert main(_backtest(synthetic_cache, tmp_path / "open", "--start", START)) == errors.EXIT_OK
    open_ended = sorted(set(_tasks(capsys.readouterr().out, _default_url(tmp_path / "open")).cutoff))
    assert main(_backtest(synthetic_cache, tmp_path / "ended", "--start", START, "--end", "2024-02-19")) == errors.EXIT_OK
    printed = capsys.readouterr().out
    ended = sorted(set(_tasks(printed, _default_url(tmp_path / "ended")).cutoff))

    assert ended == ["2024-02-12", "2024-02-19"] and f"({START} .. 2024-02-19)" in printed
    assert open_ended[: len(ended)] == ended and open_ended[-1] > ended[-1]  # without --end: up to the data's end


def test_an_end_past_the_data_stops_at_the_latest_cutoff_that_fits(capsys, synthetic_cache, tmp_path):
    assert main(_backtest(synthetic_cache, tmp_path, "--start", "2024-03-01", "--end", "2030-01-01", "--step", "1D")) == 0
    assert sorted(set(_tasks(capsys.readouterr().out, _default_url(tmp_path)).cutoff)) == ["2024-03-01", "2024-03-02"]


def test_store_holds_the_backtest_and_the_champions_a_run_then_uses(capsys, synthetic_cache, tmp_path):
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    assert main(_backtest(synthetic_cache, out, "--cutoffs", "2", "--models", "seasonal_naive,seasonal_median",
                          "--store", url)) == errors.EXIT_OK
    printed = capsys.readouterr().out
    assert f"store:       {url}" in printed
    # The summary says which metric chose the champions, and which regions are intermittent (leaderboard.csv).
    assert "  champions (chosen by lowest RMSSE): " in printed
    board = pd.read_csv(out / "leaderboard.csv")
    sparse = sorted(board[board.intermittent].region.unique())
    assert (f"intermittent regions (mostly zero slots: MASE favours a forecast of zeros there) ({len(sparse)}): "
            f"{', '.join(sparse)}" in printed) if sparse else "intermittent regions" not in printed
    tasks = _tasks(printed, url)
    assert len(tasks) == 4 * 2 and set(tasks.status) == {"ok"}  # (2 models + zero, mean_week) x 2 cutoffs, all in that store
    assert not (out / "results.sqlite").exists()
    champion = pd.read_csv(out / "champions.csv").set_index("region").loc["r000", "model"]

    # A nightly run on the same store uses the champion chosen there.
    assert main(["--log-level", "WARNING", "run", "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "serial",
                 "--regions", "r000", "--horizon", "2D", "--store", url]) == errors.EXIT_OK
    capsys.readouterr()
    store = ResultsStore(url)
    try:
        (run_id,) = store.recent_runs().run_id
        assert store.region_outcomes(run_id).model.tolist() == [champion]
    finally:
        store.close()
    assert not (out / "results.sqlite").exists()


@pytest.fixture
def other_than_default_workers():
    """A worker count that a local cluster would not get by default here (one per core)."""
    from deploy.clusters import default_workers

    return 1 if default_workers() > 1 else 2


def test_local_cluster_with_workers(capsys, caplog, monkeypatch, synthetic_cache, tmp_path, other_than_default_workers):
    monkeypatch.delenv("FORECASTING_SERIAL", raising=False)
    caplog.set_level(logging.INFO, logger="deploy.clusters")  # (pytest keeps the root level at WARNING)
    n = other_than_default_workers
    logs, out = tmp_path / "logs", tmp_path / "out"
    args = _backtest(synthetic_cache, out, "--cutoffs", "2", "--regions", "r000,r001", "--log-dir", str(logs))
    args[args.index("serial")] = "local"
    assert main(args + ["--workers", str(n)]) == errors.EXIT_OK
    tasks = _tasks(capsys.readouterr().out, _default_url(out))

    # The driver logged the cluster it started, and each of its workers logged to a folder of its own.
    assert f"local Dask cluster: {n} single-threaded worker processes" in (logs / "driver" / "driver.log").read_text()
    assert len(sorted(logs.glob("worker-*/dask.worker.log"))) == n
    # The tasks ran in those worker processes (host:pid), not in this one as a serial run would.
    pids = {w.rsplit(":", 1)[1] for w in tasks.worker}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= n


def test_oracle_regressors_adds_the_oracle_score_to_the_leaderboard(capsys, synthetic_cache, tmp_path):
    extra = ("--cutoffs", "2", "--models", "seasonal_naive,gbm")
    assert main([*_backtest(synthetic_cache, tmp_path, *extra), "--oracle-regressors"]) == errors.EXIT_OK
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert board.mase_oracle.notna().all() and board.oracle_gain.notna().all()
    assert main(_backtest(synthetic_cache, tmp_path / "honest", *extra)) == errors.EXIT_OK
    assert pd.read_csv(tmp_path / "honest" / "leaderboard.csv").mase_oracle.isna().all()
