"""``forecasting backtest`` on a ragged panel (tests/conftest.py ``ragged_cache``), and the ``run`` that uses it.

r000 runs to the cache's end, r001 stopped a year earlier, r002 opened 25
days before the end: too late for any week-long backtest window, not for a
nightly run.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from forecasting import errors
from forecasting.cli.main import main
from forecasting.data.cache import open_cache
from forecasting.store.backtests import BacktestStore, load_champions
from forecasting.store.runs import ResultsStore


def _backtest(cache, out, *extra) -> list[str]:
    return ["--log-level", "WARNING", "backtest", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
            "--models", "seasonal_naive,seasonal_median", "--horizon", "7D", "--step", "7D", "--no-plots", *extra]


def _verdicts(printed: str, url: str) -> pd.DataFrame:
    (bt_id,) = re.findall(r"^backtest (\S+):", printed, flags=re.M)
    store = BacktestStore(url)
    try:
        return store.verdicts(bt_id).set_index("region")
    finally:
        store.close()


def _url(out) -> str:
    return f"sqlite:///{out.resolve() / 'results.sqlite'}"


def test_every_region_is_scored_on_its_own_windows_and_none_gets_a_champion_without_a_score(capsys, ragged_cache, tmp_path):
    out = tmp_path / "bt"
    assert main(_backtest(ragged_cache, out, "--cutoffs", "2")) == errors.EXIT_OK
    printed = capsys.readouterr().out
    champs = pd.read_csv(out / "champions.csv").set_index("region")
    assert champs.loc[["r000", "r001"], "status"].tolist() == ["champion", "champion"]  # the year-old region too
    won = champs[champs.model.notna()]
    assert (won.status == "champion").all() and np.isfinite(won.mase).all()  # never a champion without a score
    r002 = champs.loc["r002"]
    assert r002.status == "no_champion" and pd.isna(r002.mase) and r002.reason.startswith("no scored window: ")
    assert f"r002 ({r002.reason})" in printed and "no champion" in printed
    cache = open_cache(ragged_cache)
    for region in ("r000", "r001"):  # the summary names each region's own last cutoff, a week before its last day
        data = cache.load_region(region)
        last_day = data.orders.dropna().index[-1].tz_convert(data.timezone).normalize()
        assert f"{region} {(last_day - pd.Timedelta('13D')):%Y-%m-%d} .. {(last_day - pd.Timedelta('6D')):%Y-%m-%d}" in printed
    assert _verdicts(printed, _url(out)).status.to_dict() == champs.status.to_dict()


def test_run_falls_back_to_the_configured_models_where_the_backtest_named_no_champion(capsys, ragged_cache, tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "config.yaml"
    config.write_text("forecasting:\n  models: [seasonal_naive_local]\nbacktest:\n  top_k: 0\n")
    assert main(_backtest(ragged_cache, out, "--cutoffs", "2", "--regions", "r000,r002", "--config", str(config))) == 0
    capsys.readouterr()
    assert main(["--log-level", "WARNING", "run", "--cache", str(ragged_cache), "--out", str(out), "--cluster", "serial",
                 "--regions", "r000,r002", "--horizon", "2D", "--config", str(config)]) == errors.EXIT_OK
    capsys.readouterr()
    store = ResultsStore(_url(out))
    try:
        champions = load_champions(store).set_index("region").model
        (run_id,) = store.recent_runs().run_id
        used = store.region_outcomes(run_id).set_index("region")
    finally:
        store.close()
    assert list(champions.index) == ["r000"]
    assert used.loc["r000", "model"] == champions["r000"] != "seasonal_naive_local"
    assert used.loc["r002", ["status", "model"]].tolist() == ["ok", "seasonal_naive_local"]


def test_start_and_end_skip_the_regions_without_data_there(capsys, ragged_cache, tmp_path):
    data = open_cache(ragged_cache).load_region("r000")
    last_day = data.orders.dropna().index[-1].tz_convert(data.timezone).normalize()
    start, end = f"{last_day - pd.Timedelta('20D'):%Y-%m-%d}", f"{last_day - pd.Timedelta('13D'):%Y-%m-%d}"
    out = tmp_path / "bt"
    assert main(_backtest(ragged_cache, out, "--start", start, "--end", end)) == errors.EXIT_OK
    printed = capsys.readouterr().out
    champs = pd.read_csv(out / "champions.csv").set_index("region")
    assert champs.status.to_dict() == {"r000": "champion", "r001": "skipped", "r002": "no_champion"}
    assert champs.loc["r001", "reason"].startswith("no data in the backtest's range") and pd.isna(champs.loc["r001", "model"])
    assert re.search(r"skipped, not backtested \(1 regions\): r001 \(no data in the backtest's range", printed)
    assert f"({start} .. {end})" in printed
    verdicts = _verdicts(printed, _url(out))
    assert verdicts.loc["r001", ["status", "reason"]].tolist() == ["skipped", champs.loc["r001", "reason"]]
