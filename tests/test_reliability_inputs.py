"""Bad input through the command line: one line naming the problem, exit code 2, no output.

Each case goes through ``forecasting.cli.main`` as a user (or cron) would:
standard error must hold exactly one line (no traceback), the exit code must
be 2, and nothing may be left where the output would have gone.  Inputs
the importer legitimately accepts (unsorted rows, gaps, mixed UTC offsets,
region names with quotes, semicolons or SQL) are checked to import and to
come out unchanged.  RELIABILITY.md lists every case with its test.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3

import pandas as pd
import pytest

from forecasting import errors
from forecasting.cli.main import main

RUN_DATE = "2024-03-04"  # the day after the synthetic fixture's last day of history


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("forecasting: error: "), lines[0]
    return lines[0]


# --------------------------------------------------------------------------- the cache


def _truncated(size_fraction: float):
    def make(src, dst):
        data = src.read_bytes()
        dst.write_bytes(data[: int(len(data) * size_fraction)] if size_fraction < 1 else data[:-1])

    return make


def _wrong_version(src, dst):
    shutil.copy(src, dst)
    with sqlite3.connect(dst) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()


def _other_database(src, dst):
    with sqlite3.connect(dst) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()


CACHE_CASES = {
    "missing": (None, "cache file does not exist"),
    "empty": (lambda src, dst: dst.write_bytes(b""), "not an SQLite file"),
    "csv-not-sqlite": (lambda src, dst: dst.write_text("region,timestamp,orders\n"), "not an SQLite file"),
    "header-only": (_truncated(50 / 892928), "truncated"),
    "truncated-10pc": (_truncated(0.1), "truncated or damaged"),
    "truncated-90pc": (_truncated(0.9), "truncated or damaged"),
    "one-byte-short": (_truncated(1.0), "truncated or damaged"),
    "wrong-schema-version": (_wrong_version, "cache schema version 999 is not the supported version"),
    "another-sqlite-database": (_other_database, "not a forecasting cache"),
}


@pytest.mark.parametrize("command", ["run", "backtest"])
@pytest.mark.parametrize("case", sorted(CACHE_CASES))
def test_bad_cache_is_one_line_exit_2_and_writes_nothing(case, command, synthetic_cache, tmp_path, capsys):
    make, problem = CACHE_CASES[case]
    cache = tmp_path / "cache.sqlite"
    if make is not None:
        make(synthetic_cache, cache)
    out = tmp_path / "out"
    code = main(["--log-level", "WARNING", command, "--cache", str(cache), "--out", str(out), "--cluster", "serial"])
    assert code == errors.EXIT_USAGE
    line = one_line_error(capsys)
    assert str(cache) in line and problem in line, line
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "backtest"])
def test_region_absent_from_the_cache(command, synthetic_cache, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["--log-level", "WARNING", command, "--cache", str(synthetic_cache), "--out", str(out), "--cluster", "serial",
                 "--regions", "r001,r0003"])
    assert code == errors.EXIT_USAGE
    line = one_line_error(capsys)
    assert "--regions: not in the cache: 'r0003' (did you mean 'r003'?)" in line, line
    assert not out.exists()


def test_a_region_deleted_from_the_cache_after_the_run_started_fails_alone(synthetic_cache, fast_config, tmp_path):
    """The job-side check: a region the driver listed but the worker cannot find is that region's failure."""
    from forecasting.runs.tasks import RegionTask, run_task

    outcome = run_task(RegionTask("gone", str(synthetic_cache), RUN_DATE, fast_config))
    assert not outcome.ok and outcome.error_type == "RegionDataError" and "not in the cache" in outcome.message


# --------------------------------------------------------------------------- CSV imports

HEADER = "region,timestamp,orders\n"
GOOD = HEADER + "a,2024-01-01T00:00:00Z,1\na,2024-01-01T01:00:00Z,2\na,2024-01-01T02:00:00Z,3\n"

CSV_CASES = {
    "duplicate": (GOOD + "a,2024-01-01T01:00:00Z,9\n", "UTC", 5, "duplicate row for region 'a'"),
    "same-instant-two-offsets": (GOOD + "a,2024-01-01T02:00:00+01:00,9\n", "UTC", 5, "(= '2024-01-01T01:00:00Z')"),
    "negative": (GOOD + "a,2024-01-01T03:00:00Z,-4\n", "UTC", 5, "negative orders value '-4'"),
    "non-numeric": (GOOD + "a,2024-01-01T03:00:00Z,twelve\n", "UTC", 5, "orders value 'twelve' is not a number"),
    "infinite": (GOOD + "a,2024-01-01T03:00:00Z,1e999\n", "UTC", 5, "is not a finite number"),
    "non-utf8": (GOOD.encode() + b"M\xfcnchen,2024-01-01T03:00:00Z,1\n", "UTC", 5, "not valid UTF-8 (byte 0xfc"),
    "latin1-file": ("region,timestamp,orders\nZ\u00fcrich,2024-01-01T00:00:00Z,1\n".encode("latin-1"), "UTC", 2, "not valid UTF-8"),
    "utf16-file": (GOOD.encode("utf-16"), "UTC", 1, "not valid UTF-8"),
    "dst-gap-naive": (HEADER + "b,2024-03-31T01:00,1\nb,2024-03-31T02:30,1\n", "Europe/Berlin", 3,
                      "'2024-03-31T02:30' does not exist (clocks skip it"),
    "dst-ambiguous-naive": (HEADER + "b,2024-10-27T01:00,1\nb,2024-10-27T02:00,1\n", "Europe/Berlin", 3,
                            "'2024-10-27T02:00' is ambiguous (it occurs twice"),
    "very-long-region": (GOOD + "x" * 5000 + ",2024-01-01T03:00:00Z,1\n", "UTC", 5, "region name longer than 200 characters"),
    "nul-in-region": (GOOD + "a\x00b,2024-01-01T03:00:00Z,1\n", "UTC", 5, "region name contains a NUL character"),
    "unterminated-quote": (GOOD + '"a,2024-01-01T03:00:00Z,1\n', "UTC", 5, "unterminated quoted field"),
    "semicolon-separated": ("region;timestamp;orders\na;2024-01-01T00:00:00Z;1\n", "UTC", 1, "not comma-separated"),
    "unparseable-time": (GOOD + "a,03/01/2024 10:00,1\n", "UTC", 5, "unparseable timestamp '03/01/2024 10:00'"),
    "off-grid": (GOOD + "a,2024-01-01T03:17:00Z,1\n", "UTC", 5, "not on the 1h slot grid"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_csv_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    content, timezone, line, problem = CSV_CASES[case]
    orders = tmp_path / "orders.csv"
    orders.write_bytes(content.encode() if isinstance(content, str) else content)
    out_dir = tmp_path / "caches"
    out_dir.mkdir()
    out = out_dir / "cache.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--timezone", timezone, "--out", str(out)]) == errors.EXIT_USAGE
    message = one_line_error(capsys)
    assert message.startswith(f"forecasting: error: {orders}:{line}: "), message
    assert problem in message, message
    assert len(message) < 400
    assert list(out_dir.iterdir()) == []  # no cache, no temporary file


def test_accepted_oddities_import_and_round_trip(tmp_path, capsys):
    """Unsorted rows, gaps, mixed UTC offsets across a DST change, and names that look like SQL are data."""
    names = ["x'; DROP TABLE orders; --", 'say "hi"', "semi;colon", "Robert'); DELETE FROM regions;--", "\u00dcml\u00e4ut \u2615"]
    rows = []
    for i, name in enumerate(names):
        # Berlin changes to summer time on 2024-03-31: offsets +01:00, then +02:00.
        for stamp in pd.date_range("2024-03-01", "2024-04-06", freq="h", tz="Europe/Berlin", inclusive="left"):
            if stamp.day == 28:  # a whole day without rows: a gap
                continue
            rows.append([name, stamp.isoformat() if i % 2 else stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ"), i + 1])
    rows.reverse()  # unsorted
    orders = tmp_path / "orders.csv"
    with open(orders, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "timestamp", "orders"])
        writer.writerows(rows)
    cache = tmp_path / "cache.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--timezone", "Europe/Berlin", "--out", str(cache)]) == 0
    report = capsys.readouterr().out
    assert "gap" in report and "2024-03-28" in report

    out = tmp_path / "out"
    args = ["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(out), "--cluster", "serial",
            "--models", "seasonal_naive", "--horizon", "1D", "--run-date", "2024-04-06"]
    assert main(args) == errors.EXIT_OK
    (run,) = (out / "runs").iterdir()
    with open(run / "forecasts.csv", newline="", encoding="utf-8") as fh:
        regions = {row["region"] for row in csv.DictReader(fh)}
    assert regions == set(names)
    # The store's tables are all still there.
    with sqlite3.connect(out / "results.sqlite") as conn:
        assert {"runs", "region_runs", "forecasts"} <= {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
