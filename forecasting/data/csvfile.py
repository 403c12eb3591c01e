"""Reading one CSV input file, and pointing at its lines in error messages.

:class:`CsvFile` reads a file as strings with pandas (fast), and only when
something is wrong goes back over it with the ``csv`` module to find the
physical line to report (slow, but only once, for one line).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from forecasting.errors import InputError


class CsvFile:
    """One input file: reading it, and pointing at its lines in error messages."""

    def __init__(self, path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (), extra: bool = False):
        self.path = path
        self.where = str(path)
        self.required = required
        self.optional = optional
        self.extra = extra
        self.columns: list[str] = []
        self.min_fields = 0

    def error(self, message: str, line: int | None = None) -> NoReturn:
        raise InputError(message, path=self.where, line=line)

    def read(self) -> pd.DataFrame:
        """All rows as strings, fully blank rows dropped (index = data row number, 0-based)."""
        self._read_header()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    self.path,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    encoding="utf-8",
                    encoding_errors="strict",
                    index_col=False,
                    skip_blank_lines=False,
                )
        except UnicodeDecodeError:
            self._find_bad_utf8()
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OverflowError) as exc:
            message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            if "EOF inside string" in message:
                # The csv module swallows the rest of the file into the
                # record that opened the quote: that record is the culprit.
                last = None
                for _, last, _ in self._records():
                    pass
                self.error("unterminated quoted field (a '\"' without its closing quote)", last)
            self._find_bad_record()
            self.error(f"cannot parse the CSV file ({message})")
        # With index_col=False pandas drops surplus fields of the first data
        # row with only a warning; every other surplus raises above.
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught) or frame.shape[1] != len(self.columns):
            self._find_bad_record()
            self.error("rows have more fields than the header")
        frame.columns = self.columns
        if len(frame):
            frame = frame[~(frame == "").all(axis=1).to_numpy()]
        if frame.empty:
            self.error("the file has a header but no data rows", 1)
        return frame

    def _read_header(self) -> None:
        try:
            with open(self.path, newline="", encoding="utf-8-sig", errors="strict") as fh:
                header = next(csv.reader(fh), None)
        except UnicodeDecodeError:
            self._find_bad_utf8()
        except csv.Error as exc:
            self.error(f"cannot read the header ({exc})", 1)
        if header is None:
            self.error("empty file: no header line (expected columns " + self._expected() + ")", 1)
        names = [h.strip() for h in header]
        if not any(names):
            self.error("the first line is empty; it must be the header (" + self._expected() + ")", 1)
        if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
            self.error(f"header {names[0][:80]!r} is not comma-separated; expected columns {self._expected()}", 1)
        if "" in names:
            self.error(f"empty column name in the header (column {names.index('') + 1}); expected columns {self._expected()}", 1)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            self.error(f"duplicate column{'s' if len(dupes) > 1 else ''} {', '.join(dupes)} in the header", 1)
        missing = [c for c in self.required if c not in names]
        unknown = [] if self.extra else [n for n in names if n not in self.required + self.optional]
        problems = []
        if missing:
            problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(u)[1:-1] for u in unknown)}")
        if problems:
            self.error(f"{'; '.join(problems)}; expected columns {self._expected()}", 1)
        if self.extra and len(names) == len(self.required):
            self.error(f"no feature columns: expected {self._expected()}", 1)
        self.columns = names
        # A missing trailing optional field (``name`` of an event) is fine.
        self.min_fields = len(names) - (1 if names[-1] in self.optional else 0)

    def _expected(self) -> str:
        cols = ",".join(self.required)
        if self.optional:
            cols += "".join(f"[,{c}]" for c in self.optional)
        if self.extra:
            cols += ",<numeric columns>"
        return cols

    def _records(self):
        """Yield ``(data row number, first line, fields)`` of each record after the header."""
        with open(self.path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            i = 0
            while True:
                start = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    self.error(f"malformed CSV ({exc}); an unterminated quote?", start)
                yield i, start, row
                i += 1

    def _bad_count(self, n: int) -> bool:
        return n != 0 and not self.min_fields <= n <= len(self.columns)

    def _count_message(self, n: int) -> str:
        return f"row has {n} field{'s' if n != 1 else ''}, expected {len(self.columns)} ({','.join(self.columns)})"

    def _find_bad_record(self) -> None:
        for _, line, row in self._records():
            if self._bad_count(len(row)):
                self.error(self._count_message(len(row)), line)

    def _find_bad_utf8(self) -> NoReturn:
        with open(self.path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.error(
                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8", n
                    )
        self.error("not valid UTF-8; save the file as UTF-8")

    def fail_row(self, label: int, message: str) -> NoReturn:
        """Report a problem in data row ``label``, or its wrong field count if that is the cause."""
        line = label + 2
        for i, start, row in self._records():
            if i == label:
                line = start
                if self._bad_count(len(row)):
                    message = self._count_message(len(row))
                break
        self.error(message, line)


def first_failure(csvfile: CsvFile, frame: pd.DataFrame, checks) -> None:
    """Report the earliest row failing any of ``checks`` ((mask, message(pos)) pairs)."""
    checks = [(np.asarray(m, dtype=bool), msg) for m, msg in checks]
    if not checks:
        return
    bad = np.logical_or.reduce([m for m, _ in checks])
    if not bad.any():
        return
    pos = int(np.argmax(bad))
    message = next(msg(pos) for m, msg in checks if m[pos])
    csvfile.fail_row(int(frame.index[pos]), message)


def quote(value: str, limit: int = 60) -> str:
    # One line, bounded, unambiguous: repr escapes newlines and control chars.
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")
