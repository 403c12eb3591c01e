"""``forecasting cache info CACHE [--json]``: what a cache holds, checked against the cache itself."""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib

from flight_extracts import ZONES, arrivals, departures, rows, write_orders  # noqa: E402

from forecasting import errors  # noqa: E402
from forecasting.cli.main import main  # noqa: E402
from forecasting.data.cache import open_cache  # noqa: E402


def _utc(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _imported(tmp_path: Path) -> tuple[Path, dict]:
    """Chicago arrivals (naive, its zone from --regions) and Newark departures (instants), with every extra file."""
    counts = {"ORD": arrivals("ORD", 1, 2, 4), "EWR": departures("EWR", 1, 2, 4)}
    orders = write_orders(tmp_path / "orders.csv", rows("ORD", counts["ORD"]) + rows("EWR", counts["EWR"], "+00:00"))
    files = {
        "regions": "region,name,timezone\nORD,Chicago,America/Chicago\nEWR,Newark,America/New_York\n",
        "features": "region,timestamp,temperature\nEWR,2013-01-02T12:00:00Z,-1.5\nEWR,2013-01-03T12:00:00Z,2\nORD,2013-01-02T12:00,-8\n",
        "events": "region,start,end,kind\nORD,2013-01-03T18:00,2013-01-03T21:00,football\n",
        "promotions": "region,start,end,name\n,2013-01-02T00:00:00Z,2013-01-05T00:00:00Z,sale\n",
        "holidays": "date,name\n2013-01-01,New Year\n2013-01-21,MLK Day\n",
    }
    argv = ["cache", "import", "--orders", str(orders), "--out", str(tmp_path / "c.sqlite")]
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
        argv += [f"--{name}", str(tmp_path / f"{name}.csv")]
    assert main(argv) == 0
    return tmp_path / "c.sqlite", counts


def test_info_json_matches_what_the_cache_holds(capsys, tmp_path):
    path, counts = _imported(tmp_path)
    capsys.readouterr()
    assert main(["cache", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["freq"] == "h"
    cache = open_cache(path)
    assert [r["region"] for r in info["regions"]] == cache.regions() == ["EWR", "ORD"]
    for row in info["regions"]:
        data = cache.load_region(row["region"])
        stored = data.orders.dropna()
        assert (row["name"], row["timezone"]) == ({"ORD": "Chicago", "EWR": "Newark"}[row["region"]], ZONES[row["region"]])
        assert (row["first_slot"], row["last_slot"]) == (_utc(stored.index[0]), _utc(stored.index[-1]))
        assert row["slots"] == len(stored) and row["orders"] == stored.sum() == counts[row["region"]].sum()
        # The slots without an input row are the zeros the import filled in.
        assert row["filled_slots"] == len(stored) - len(counts[row["region"]]) > 0
        # The share of zero slots, and whether that makes the region intermittent (more than 1.32 slots per nonzero one).
        assert row["zero_share"] == (stored == 0).mean() > 0
        assert row["intermittent"] is bool(1 / (1 - row["zero_share"]) > 1.32)
    # Chicago's naive feature row is Chicago time (18:00 UTC), inside the range info reports.
    assert cache.load_region("ORD").exogenous.index.tolist() == [pd.Timestamp("2013-01-02 12:00", tz="America/Chicago")]
    assert info["regressors"] == {"temperature": {"first": "2013-01-02T12:00:00Z", "last": "2013-01-03T12:00:00Z", "regions": 2}}
    assert info["events"] == {"count": 1, "first": _utc(pd.Timestamp("2013-01-03 18:00", tz="America/Chicago")),
                              "last": _utc(pd.Timestamp("2013-01-03 21:00", tz="America/Chicago"))}
    assert info["promotions"] == {"count": 1, "first": "2013-01-02T00:00:00Z", "last": "2013-01-05T00:00:00Z"}
    assert info["holidays"] == {"count": 2, "first": "2013-01-01", "last": "2013-01-21"}


def json_info(capsys, path) -> dict:
    assert main(["cache", "info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_text_names_each_region_and_table(capsys, tmp_path):
    path, _ = _imported(tmp_path)
    capsys.readouterr()
    assert main(["cache", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert not text.lstrip().startswith("{")  # --json only when asked
    lines = text.splitlines()
    assert any(line.startswith("ORD\tChicago\tAmerica/Chicago\t") for line in lines)
    assert lines[1].endswith("\tzero slots")
    share = json_info(capsys, path)["regions"][1]["zero_share"]
    assert next(line for line in lines if line.startswith("ORD\t")).split("\t")[-1].startswith(f"{share:.0%}")
    assert "regressor temperature: 2013-01-02T12:00:00Z .. 2013-01-03T12:00:00Z (2 regions)" in lines
    assert "promotions: 1 (2013-01-02T00:00:00Z .. 2013-01-05T00:00:00Z)" in lines and "holidays: 2 (2013-01-01 .. 2013-01-21)" in lines


def test_info_of_a_cache_that_does_not_record_filled_slots_says_unknown(capsys, tmp_path):
    path = tmp_path / "synthetic.sqlite"
    assert main(["cache", "build", "--synthetic", "--regions", "2", "--days", "2", "--out", str(path)]) == 0
    capsys.readouterr()
    assert main(["cache", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["filled_slots"] for r in info["regions"]] == [0, 0]  # every synthetic slot is generated
    assert all(r["slots"] == len(open_cache(path).load_region(r["region"]).orders) for r in info["regions"])
    # A cache written before the count was recorded: the same file without its meta key.
    old = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(old)) as dst:
        src.backup(dst)
        with dst:
            dst.execute("DELETE FROM meta WHERE key = 'filled_slots'")
    assert main(["cache", "info", str(old), "--json"]) == 0
    assert [r["filled_slots"] for r in json.loads(capsys.readouterr().out)["regions"]] == [None, None]
    assert main(["cache", "info", str(old)]) == 0
    assert "\tunknown\t" in capsys.readouterr().out


def test_info_shows_the_weather_forecasts_and_none_for_a_cache_written_before_them(capsys, tmp_path):
    path = tmp_path / "synthetic.sqlite"
    assert main(["cache", "build", "--synthetic", "--regions", "2", "--days", "3", "--weather-forecasts", "--out", str(path)]) == 0
    capsys.readouterr()
    assert main(["cache", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["weather_forecasts"]
    assert sorted(info) == ["precipitation", "temperature"]
    cache = open_cache(path)
    forecasts = pd.concat([cache.load_region(r).weather_forecasts for r in cache.regions()])
    temperature = forecasts[forecasts.name == "temperature"]
    assert info["temperature"] == {
        "issues": 6, "rows": len(temperature), "regions": 2,  # one a day per region
        "first_issued": _utc(temperature.issued_at.min()), "last_issued": _utc(temperature.issued_at.max()),
    }
    assert main(["cache", "info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"weather forecast temperature: 6 issues, issued {info['temperature']['first_issued']} .. " \
           f"{info['temperature']['last_issued']} (2 regions, {len(temperature)} rows)" in lines
    # A cache written before the table existed: none.
    old = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(old)) as dst:
        src.backup(dst)
        with dst:
            dst.execute("DROP TABLE weather_forecasts")
    assert main(["cache", "info", str(old), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weather_forecasts"] == {}
    assert main(["cache", "info", str(old)]) == 0
    assert "weather forecasts: none" in capsys.readouterr().out.splitlines()


def test_info_of_a_missing_cache_is_one_line_error(capsys, tmp_path):
    assert main(["cache", "info", str(tmp_path / "nope.sqlite")]) == errors.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cache file does not exist" in err[0] and "Traceback" not in err[0]
