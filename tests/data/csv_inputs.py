"""CSV inputs the importer's tests build: a header, hourly rows, files written as given."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

HEADER = "region,timestamp,orders\n"


def write(path: Path, content) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def hourly(region: str, start: str, hours: int, value=1, tz_suffix="Z") -> str:
    stamps = pd.date_range(start, periods=hours, freq="h")
    return "".join(f"{region},{t:%Y-%m-%dT%H:%M:%S}{tz_suffix},{value}\n" for t in stamps)


def rows_csv(rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["region", "timestamp", "orders"])
    w.writerows(rows)
    return buf.getvalue()


#: Three good hourly rows (lines 2-4 of the file).
GOOD = HEADER + hourly("a", "2024-01-01", 3)
