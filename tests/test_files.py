"""Atomic writes: the destination holds the old file or the whole new one, never a temporary left over."""

from __future__ import annotations

import contextlib
import os
import sqlite3

import pytest

from forecasting.files import atomic_path, atomic_write


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "f.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half")
            raise RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def test_an_interrupted_write_creates_nothing_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "new.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, encoding="utf-8") as fh:
            fh.write("{")
            fh.flush()
            assert target.exists() is False  # nothing at the destination while writing
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_finished_write_replaces_the_file_with_umask_permissions(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with atomic_write(target, "wb") as fh:
        fh.write(b"\x00new")
    assert target.read_bytes() == b"\x00new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_two_writes_of_one_file_at_once_do_not_share_a_temporary(tmp_path):
    # Threads of one process (plots written in parallel) must not collide.
    target = tmp_path / "f.txt"
    with atomic_write(target) as first:
        with atomic_write(target) as second:
            first.write("first")
            second.write("second")
        assert target.read_text() == "second"
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_reading_mode_is_refused_before_anything_is_created(tmp_path):
    with pytest.raises(ValueError, match="writing mode"):
        with atomic_write(tmp_path / "f.txt", "r"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_moves_a_file_written_by_another_library_into_place(tmp_path):
    target = tmp_path / "db.sqlite"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            sqlite3.connect(tmp).close()
            assert tmp.parent == tmp_path and tmp.exists()
            raise RuntimeError("build failed")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["db.sqlite"]
    with atomic_path(target) as tmp:
        with sqlite3.connect(tmp) as conn:
            conn.execute("CREATE TABLE t (x)")
        conn.close()
    with contextlib.closing(sqlite3.connect(target)) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    assert [p.name for p in tmp_path.iterdir()] == ["db.sqlite"]
