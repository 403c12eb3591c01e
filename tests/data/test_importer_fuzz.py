"""Fuzzing the importer: whatever bytes come in, it imports them or raises a one-line InputError."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib

from csv_inputs import GOOD, HEADER, rows_csv, write  # noqa: E402

from forecasting.data.cache import open_cache  # noqa: E402
from forecasting.data.importer import import_csv  # noqa: E402
from forecasting.errors import InputError  # noqa: E402


_CSV_ALPHABET = st.sampled_from(list('ab,;"\n\r 0123456789-:TZ.+eE') + ["\x00", "é", "\ufeff"])
_lines = st.lists(st.text(_CSV_ALPHABET, max_size=40), max_size=8).map(lambda ls: "\n".join(ls))
_fuzz = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    _lines.map(lambda body: (HEADER + body).encode("utf-8", "surrogatepass")),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "", "x'y"]),
            st.sampled_from(["2024-01-01T00:00Z", "2024-01-01T01:00", "2024-03-10T02:00", "2024-01-01T00:15Z", "nope", ""]),
            st.sampled_from(["1", "0", "-1", "2.5", "nan", "x", ""]),
        ),
        max_size=6,
    ).map(lambda rows: rows_csv(rows).encode()),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=_fuzz, tz=st.sampled_from(["UTC", "America/New_York"]))
def test_fuzz_only_input_errors(content, tz):
    with tempfile.TemporaryDirectory() as tmp:
        orders = Path(tmp) / "orders.csv"
        orders.write_bytes(content)
        out = Path(tmp) / "c.sqlite"
        try:
            import_csv(orders, out, timezone=tz)
        except InputError as exc:
            assert str(exc).startswith(str(orders))
            assert "\n" not in str(exc)
            assert not out.exists()
        else:
            assert open_cache(out).regions()
        assert not [p for p in Path(tmp).iterdir() if p.name.startswith(".")]


_SIDE_FILES = {
    "features": "region,timestamp,temp\n",
    "events": "region,start,end,kind,name\n",
    "holidays": "date,name,region\n",
    "promotions": "region,start,end,name\n",
    "regions": "region,name,timezone\n",
}
_SIDE_TOKENS = st.sampled_from(list('ab,;"\n 0123456789-:TZ.+eE') + ["\x00", "é", "nan", "2024-01-01", "2024-01-01T01:00Z", ",a,", "UTC", "America/New_York", "Mars/Base"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(sorted(_SIDE_FILES)),
    body=st.one_of(
        st.binary(max_size=200),
        st.lists(st.lists(_SIDE_TOKENS, max_size=12).map("".join), max_size=6).map(lambda ls: "\n".join(ls).encode()),
    ),
    with_header=st.booleans(),
)
def test_fuzz_features_events_and_holidays_only_input_errors(which, body, with_header):
    """The orders file is fine; a fuzzed side file (promotions and regions too) may only fail with a one-line InputError."""
    with tempfile.TemporaryDirectory() as tmp:
        orders = write(Path(tmp) / "orders.csv", GOOD)
        side = Path(tmp) / f"{which}.csv"
        side.write_bytes((_SIDE_FILES[which].encode() if with_header else b"") + body)
        out = Path(tmp) / "c.sqlite"
        try:
            import_csv(orders, out, **{which: side})
        except InputError as exc:
            assert str(exc).startswith(str(side)), str(exc)
            assert "\n" not in str(exc)
            assert not out.exists()
        else:
            assert open_cache(out).regions() == ["a"]
        assert not [p for p in Path(tmp).iterdir() if p.name.startswith(".")]
