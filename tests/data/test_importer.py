"""Tests of the CSV importer: round trips, inference, and every kind of bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib

from csv_inputs import GOOD, HEADER, hourly, rows_csv, write  # noqa: E402

from forecasting.data.cache import open_cache  # noqa: E402
from forecasting.data.importer import Gap, ImportReport, import_csv  # noqa: E402
from forecasting.errors import InputError, UsageError  # noqa: E402


# --------------------------------------------------------------------------- good imports


def test_round_trip_fill_and_gap(tmp_path):
    # A: open on Jan 1 (two rows) and Jan 4 (one row); Jan 2-3 are a gap.
    # B: one open day, hourly, with one slot missing.
    orders = write(
        tmp_path / "orders.csv",
        HEADER
        + "A,2024-01-04T10:00:00Z,7\n"  # unsorted on purpose
        + "A,2024-01-01T09:00:00Z,3\n"
        + "A,2024-01-01T12:00:00Z,5\n"
        + hourly("B", "2024-01-01T00:00", 24, value=2).replace("B,2024-01-01T05:00:00Z,2\n", ""),
    )
    features = write(
        tmp_path / "features.csv",
        "region,timestamp,temperature,precipitation\nA,2024-01-01T09:00:00Z,-1.5,0\nB,2024-01-01T00:00:00Z,2,0.4\n",
    )
    events = write(
        tmp_path / "events.csv",
        "region,start,end,kind,name\n,2024-01-01,2024-01-02,holiday,New Year\nA,2024-01-01T18:00Z,2024-01-01T20:00Z,football,\n",
    )
    out = tmp_path / "cache.sqlite"
    report = import_csv(orders, out, features=features, events=events)

    assert isinstance(report, ImportReport)
    assert (report.regions, report.rows, report.freq, report.path) == (2, 26, "h", out)
    # A: its open days from its first row (Jan 1 09:00) to its last (Jan 4
    # 10:00): 15 + 11 slots - 3 rows; B: one missing slot on its open day.
    assert report.filled_slots == (15 + 11 - 3) + 1
    assert report.gaps == (Gap("A", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-03").date(), 2),)
    assert report.exogenous == ("temperature", "precipitation")
    assert report.events == 2
    text = report.summary()
    assert "2 regions" in text and "1 gap" in text and "2024-01-02 .. 2024-01-03" in text

    cache = open_cache(out)
    assert cache.freq == "h"
    assert cache.regions() == ["A", "B"]
    a = cache.load_region("A")
    assert a.timezone == "UTC" and a.name == "A"
    assert a.orders.index[0] == pd.Timestamp("2024-01-01T09:00Z")  # a partial first day stays partial
    assert a.orders.index[-1] == pd.Timestamp("2024-01-04T10:00Z")
    assert a.orders["2024-01-01T09:00Z"] == 3 and a.orders["2024-01-01T12:00Z"] == 5
    assert a.orders["2024-01-04T10:00Z"] == 7
    assert a.orders["2024-01-01"].sum() == 8 and a.orders["2024-01-01"].notna().all()
    assert a.orders["2024-01-02":"2024-01-03"].isna().all()
    assert a.orders.isna().sum() == 48
    assert a.exogenous.loc["2024-01-01T09:00Z", "temperature"] == -1.5
    assert list(a.events["kind"]) == ["holiday", "football"]
    b = cache.load_region("B")
    assert b.orders["2024-01-01T05:00Z"] == 0 and b.orders.sum() == 46
    assert list(b.events["kind"]) == ["holiday"]  # the everywhere event only


def test_local_days_and_offsets(tmp_path):
    # Naive times are Berlin wall time; the open day is the Berlin calendar day.
    orders = write(tmp_path / "o.csv", HEADER + "r,2024-07-01T00:00,4\nr,2024-07-01T23:00:00+02:00,1\n")
    out = tmp_path / "c.sqlite"
    report = import_csv(orders, out, timezone="Europe/Berlin", freq="1h")
    data = open_cache(out).load_region("r")
    assert data.timezone == "Europe/Berlin"
    assert data.orders.index[0] == pd.Timestamp("2024-06-30T22:00Z")
    assert len(data.orders) == 24 and data.orders.sum() == 5
    assert report.filled_slots == 22


def test_dst_day_with_offsets_has_25_slots(tmp_path):
    stamps = pd.date_range("2024-11-03", "2024-11-04", freq="h", tz="America/New_York", inclusive="left")
    assert len(stamps) == 25
    orders = write(tmp_path / "o.csv", HEADER + "".join(f"ny,{t.isoformat()},1\n" for t in stamps[::3]))
    out = tmp_path / "c.sqlite"
    import_csv(orders, out, timezone="America/New_York", freq="h")
    series = open_cache(out).load_region("ny").orders
    assert len(series) == 25 and series.sum() == len(stamps[::3])


def test_half_hour_zone_slots_start_at_local_midnight(tmp_path):
    # India is UTC+05:30: hourly slots start at :30 UTC, as the forecast
    # horizon (which starts at the run date's local midnight) expects.
    orders = write(tmp_path / "o.csv", HEADER + "in,2024-01-01T00:00,1\nin,2024-01-01T01:00,2\nin,2024-01-02T05:00:00+05:30,3\n")
    features = write(tmp_path / "f.csv", "region,timestamp,temperature\nin,2024-01-01T09:00,21.5\n")
    out = tmp_path / "c.sqlite"
    report = import_csv(orders, out, features=features, timezone="Asia/Kolkata")
    # Local midnight of Jan 1 to 05:00 of Jan 2: 30 slots, 3 of them rows.
    assert report.freq == "h" and report.filled_slots == 30 - 3
    data = open_cache(out).load_region("in")
    assert data.orders.index[0] == pd.Timestamp("2023-12-31T18:30Z") and len(data.orders) == 30
    assert data.orders.sum() == 6
    assert data.exogenous["temperature"].index[0] == pd.Timestamp("2024-01-01T03:30Z")
    utc_hours = write(tmp_path / "u.csv", HEADER + "in,2024-01-01T00:00Z,1\nin,2024-01-01T01:00Z,2\n")
    with pytest.raises(InputError, match=r"u.csv:2: timestamp '2024-01-01T00:00Z' is not on the 1h slot grid .* local midnight in Asia/Kolkata"):
        import_csv(utc_hours, tmp_path / "d.sqlite", timezone="Asia/Kolkata")


def test_zone_with_half_hour_dst_shift_needs_shorter_slots(tmp_path):
    # Lord Howe Island moves its clocks by 30 minutes: local hours before and
    # after the change are not one hourly grid in UTC.
    wall = [f"2024-04-0{d}T{h:02d}:00" for d in (6, 8) for h in range(3)]
    orders = write(tmp_path / "o.csv", HEADER + "".join(f"lh,{t},1\n" for t in wall))
    with pytest.raises(InputError, match=r"o.csv:5: .* not on the same 1h slot grid"):
        import_csv(orders, tmp_path / "c.sqlite", timezone="Australia/Lord_Howe")
    assert import_csv(orders, tmp_path / "c.sqlite", timezone="Australia/Lord_Howe", freq="30min").freq == "30min"


@pytest.mark.parametrize("freq,step", [("15min", "15min"), ("30min", "30min"), ("h", "h")])
def test_frequency_inference(tmp_path, freq, step):
    stamps = pd.date_range("2024-01-01", periods=12, freq=step, tz="UTC").delete([3, 7])
    orders = write(tmp_path / "o.csv", HEADER + "".join(f"z,{t.isoformat()},2\n" for t in stamps))
    report = import_csv(orders, tmp_path / "c.sqlite")
    assert report.freq == freq
    assert open_cache(tmp_path / "c.sqlite").freq == freq


def test_explicit_freq_and_usage_errors(tmp_path):
    orders = write(tmp_path / "o.csv", HEADER + hourly("a", "2024-01-01", 3))
    assert import_csv(orders, tmp_path / "c.sqlite", freq="15min").freq == "15min"
    with pytest.raises(UsageError, match="slot length"):
        import_csv(orders, tmp_path / "d.sqlite", freq="2h")
    with pytest.raises(UsageError, match="time zone"):
        import_csv(orders, tmp_path / "d.sqlite", timezone="Mars/Olympus")
    assert not (tmp_path / "d.sqlite").exists()


def test_lenient_formatting(tmp_path):
    # BOM, CRLF, blank lines, padded header names and values, columns reordered.
    content = "\ufefforders , timestamp,region\r\n 3 ,2024-01-01T00:00Z ,a\r\n\r\n4,2024-01-01 01:00:00+00:00,a\r\n\r\n"
    report = import_csv(write(tmp_path / "o.csv", content), tmp_path / "c.sqlite")
    assert report.rows == 2
    assert open_cache(tmp_path / "c.sqlite").load_region("a").orders.iloc[:2].tolist() == [3, 4]


@pytest.mark.parametrize(
    "region",
    ["x'; DROP TABLE orders; --", 'say "hi"', "semi;colon", "O'Brien", "comma, inside", "Zürich ☕", " padded ", "new\nline"],
)
def test_sql_ish_region_names_round_trip(tmp_path, region):
    orders = write(tmp_path / "o.csv", rows_csv([[region, "2024-01-01T00:00Z", 1], ["plain", "2024-01-01T01:00Z", 2], [region, "2024-01-01T01:00Z", 5]]))
    out = tmp_path / "c.sqlite"
    import_csv(orders, out)
    cache = open_cache(out)
    assert sorted(cache.regions()) == sorted([region, "plain"])
    data = cache.load_region(region)
    assert data.region == region and data.name == region
    assert data.orders.iloc[:2].tolist() == [1, 5]
    assert cache.load_region("plain").orders.sum() == 2


# --------------------------------------------------------------------------- bad input

def _bad_cases():
    long = "r" * 201
    o = "orders"
    yield o, b"", 1, "empty file"
    yield o, HEADER, 1, "no data rows"
    yield o, "region,timestamp\na,2024-01-01T00:00Z\n", 1, "missing column orders; expected columns region,timestamp,orders"
    yield o, "region,timestamp,orders,extra\na,2024-01-01T00:00Z,1,2\n", 1, "unknown column extra"
    yield o, "region,region,timestamp,orders\n", 1, "duplicate column region"
    yield o, "region;timestamp;orders\na;2024-01-01;1\n", 1, "not comma-separated"
    yield o, GOOD + "a,2024-01-01T01:00:00Z,9\n", 5, "duplicate row for region 'a' at '2024-01-01T01:00:00Z': lines 3 and 5"
    yield o, GOOD + "a,2024-01-01 01:00:00+00:00,9\n", 5, "lines 3 and 5"
    yield o, GOOD + "a,yesterday,9\n", 5, "unparseable timestamp 'yesterday'"
    yield o, GOOD + "a,2024-02-30T00:00Z,9\n", 5, "unparseable timestamp"
    yield o, GOOD + "a,,9\n", 5, "empty timestamp"
    yield o, GOOD + "a,1066-10-14T09:00Z,9\n", 5, "outside the supported years"
    yield o, GOOD + "a,2024-01-01T03:00Z,-1\n", 5, "negative orders value '-1'"
    yield o, GOOD + "a,2024-01-01T03:00Z,lots\n", 5, "orders value 'lots' is not a number"
    yield o, GOOD + "a,2024-01-01T03:00Z,\n", 5, "empty orders value"
    yield o, GOOD + "a,2024-01-01T03:00Z,inf\n", 5, "'inf' is not a finite number"
    yield o, GOOD + "a,2024-01-01T03:00Z,NaN\n", 5, "'NaN' is not a finite number"
    yield o, GOOD + ",2024-01-01T03:00Z,1\n", 5, "empty region"
    yield o, GOOD + f"{long},2024-01-01T03:00Z,1\n", 5, "longer than 200 characters"
    yield o, HEADER + "a,2024-01-01T00:00Z,1,7\n" + GOOD[len(HEADER):], 2, "row has 4 fields, expected 3"
    yield o, GOOD + "a,2024-01-01T03:00Z,1,7\na,2024-01-01T04:00Z,1\n", 5, "row has 4 fields, expected 3"
    yield o, GOOD + "a,2024-01-01T03:00Z\n", 5, "row has 2 fields, expected 3"
    yield o, GOOD + 'a,"2024-01-01T03:00Z,1\na,2024-01-01T04:00Z,1\n', 5, "unterminated quoted field"
    yield o, GOOD.encode() + b"caf\xe9,2024-01-01T03:00Z,1\n", 5, "not valid UTF-8 (byte 0xe9"
    yield o, b"region,timestamp,orders\n\xff\xfeoops\n", 2, "not valid UTF-8"
    yield o, GOOD + "a,2024-01-01T03:20Z,1\n", 5, "not on the 1h slot grid"
    # Line numbers count physical lines, also across a quoted newline.
    yield o, HEADER + '"two\nlines",2024-01-01T00:00Z,1\n' + "a,2024-01-01T00:00Z,x\n", 4, "not a number"
    f = "features"
    yield f, "region,timestamp,temp\na,2024-01-01T00:00Z,1\na,2024-01-01T01:00Z,warm\n", 3, "temp value 'warm' is not a number"
    yield f, "region,timestamp,temp\na,2024-01-01T00:00Z,\n", 2, "empty temp value"
    yield f, "region,timestamp,temp\nb,2024-01-01T00:00Z,1\n", 2, "region 'b' does not appear in the orders file"
    yield f, "region,timestamp\na,2024-01-01T00:00Z\n", 1, "no feature columns"
    yield f, "region,timestamp,temp\na,2024-01-01T00:00Z,1\na,2024-01-01T00:00Z,2\n", 3, "lines 2 and 3"
    yield f, "region,timestamp,temp\na,2024-01-01T00:30Z,1\n", 2, "not on the 1h slot grid"
    e = "events"
    yield e, "region,start,end,kind\na,2024-01-01T02:00Z,2024-01-01T01:00Z,game\n", 2, "event ends ('2024-01-01T01:00Z') at or before it starts"
    yield e, "region,start,end,kind\na,2024-01-01T02:00Z,2024-01-01T02:00Z,game\n", 2, "at or before it starts"
    yield e, "region,start,end,kind,name\n,2024-01-01,2024-01-02,holiday,x\nzz,2024-01-01,2024-01-02,game\n", 3, "region 'zz' does not appear"
    yield e, "region,start,end\na,2024-01-01,2024-01-02\n", 1, "missing column kind"
    yield e, "region,start,end,kind\na,2024-01-01,2024-01-02,\n", 2, "empty kind"
    yield e, "region,start,end,kind\na,soon,2024-01-02,game\n", 2, "unparseable start 'soon'"


BAD_CASES = list(_bad_cases())


@pytest.mark.parametrize("which,content,line,problem", BAD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CASES)])
def test_bad_input(tmp_path, which, content, line, problem):
    files = {"orders": GOOD}
    files[which] = content
    paths = {k: write(tmp_path / f"in_{k}.csv", v) for k, v in files.items()}
    out = tmp_path / "out" / "cache.sqlite"
    with pytest.raises(InputError) as info:
        import_csv(paths["orders"], out, features=paths.get("features"), events=paths.get("events"))
    message = str(info.value)
    assert message.startswith(f"{paths[which]}:{line}: "), message
    assert problem in message, message
    assert "\n" not in message
    assert info.value.line == line
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(p.name for p in paths.values())


def test_inference_failure_is_input_error(tmp_path):
    orders = write(tmp_path / "o.csv", HEADER + "a,2024-01-01T00:00Z,1\na,2024-01-01T02:00Z,1\na,2024-01-01T04:00Z,1\n")
    with pytest.raises(InputError, match="most common step .* is 2h"):
        import_csv(orders, tmp_path / "c.sqlite")
    single = write(tmp_path / "s.csv", HEADER + "a,2024-01-01T00:00Z,1\n")
    with pytest.raises(InputError, match="no region has two different timestamps"):
        import_csv(single, tmp_path / "c.sqlite")
    assert import_csv(single, tmp_path / "c.sqlite", freq="h").filled_slots == 0  # nothing outside the rows' range


@pytest.mark.parametrize(
    "stamp,kind",
    [("2024-03-10T02:00", "does not exist"), ("2024-11-03T01:00", "is ambiguous")],
)
def test_naive_times_across_dst_are_rejected(tmp_path, stamp, kind):
    day = stamp[:10]
    wall = [f"{day}T{h:02d}:00" for h in range(6)]
    orders = write(tmp_path / "o.csv", HEADER + "".join(f"ny,{t},1\n" for t in wall))
    with pytest.raises(InputError) as info:
        import_csv(orders, tmp_path / "c.sqlite", timezone="America/New_York")
    message = str(info.value)
    line = wall.index(stamp) + 2
    assert message.startswith(f"{orders}:{line}: timestamp '{stamp}' {kind}")
    assert "daylight-saving" in message and "UTC offset" in message
    assert not (tmp_path / "c.sqlite").exists()


def test_failed_import_leaves_existing_cache_untouched(tmp_path):
    out = tmp_path / "cache.sqlite"
    import_csv(write(tmp_path / "good.csv", GOOD), out)
    before = out.read_bytes()
    mtime = out.stat().st_mtime_ns
    bad = write(tmp_path / "bad.csv", GOOD + "a,2024-01-01T03:00Z,-5\n")
    with pytest.raises(InputError, match="negative"):
        import_csv(bad, out)
    assert out.read_bytes() == before and out.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "cache.sqlite", "good.csv"]
    assert open_cache(out).load_region("a").orders.sum() == 3


def test_missing_input_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        import_csv(tmp_path / "nope.csv", tmp_path / "c.sqlite")


def test_big_shuffled_file_is_written_in_bulk(tmp_path, monkeypatch):
    # 20 regions x 2000 hours, shuffled: exercises the vectorised paths.
    import math

    import sqlalchemy as sa

    from forecasting.data import importer

    rng = np.random.default_rng(1)
    stamps = pd.date_range("2024-01-01", periods=2000, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    frame = pd.DataFrame(
        {"region": np.repeat([f"r{i}" for i in range(20)], 2000), "timestamp": np.tile(stamps, 20), "orders": rng.poisson(3, 40000)}
    ).sample(frac=1, random_state=1)
    frame.to_csv(tmp_path / "o.csv", index=False)
    # Every statement the import sends to SQLite, with how many rows it carries.
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO ORDERS"):
            sent.append((executemany, len(parameters) if executemany else 1))

    monkeypatch.setattr(importer, "_CHUNK", 10_000)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        report = importer.import_csv(tmp_path / "o.csv", tmp_path / "c.sqlite", timezone="Europe/London")
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert report.rows == 40000 and report.regions == 20 and report.freq == "h"
    cache = open_cache(tmp_path / "c.sqlite")
    series = cache.load_region("r7").orders
    expected = frame[frame.region == "r7"].set_index(pd.to_datetime(frame.loc[frame.region == "r7", "timestamp"]))["orders"]
    assert series.loc[expected.index].tolist() == expected.tolist()
    # Orders go in whole chunks, one executemany each: never a statement per row.
    stored = 40000 + report.filled_slots
    assert all(many for many, _ in sent) and sum(n for _, n in sent) == stored
    assert len(sent) == math.ceil(stored / 10_000)


# --------------------------------------------------------------------------- fuzzing

def test_holidays_import_and_bad_dates(tmp_path):
    from forecasting.data.cache import open_cache
    from forecasting.data.importer import import_csv
    from forecasting.errors import InputError

    orders = tmp_path / "orders.csv"
    orders.write_text("region,timestamp,orders\nA,2024-01-01T00:00:00Z,1\nA,2024-01-01T01:00:00Z,2\n")
    hol = tmp_path / "holidays.csv"
    hol.write_text("date,name,region\n2024-01-01,New Year,\n2024-05-01,Local fair,A\n")
    import_csv(orders, tmp_path / "c.sqlite", holidays=hol)
    days = open_cache(tmp_path / "c.sqlite").load_region("A").holidays
    assert sorted(days.name) == ["Local fair", "New Year"]
    bad = tmp_path / "bad.csv"
    bad.write_text("date,name\n2024-01-01,ok\n01/05/2024,May Day\n")
    with pytest.raises(InputError, match=r"bad.csv:3: date '01/05/2024' is not a YYYY-MM-DD date"):
        import_csv(orders, tmp_path / "d.sqlite", holidays=bad)
    assert not (tmp_path / "d.sqlite").exists()
