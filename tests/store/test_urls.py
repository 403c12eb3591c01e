"""``shown_url`` and ``shown_error``: what a store URL and a driver's error look like when shown."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from forecasting.store.urls import MASK, shown_error, shown_url

PASSWORD = "s3cret"

WITH_PASSWORD = [
    f"postgresql+psycopg://bob:{PASSWORD}@db.internal:5432/forecasts",
    f"postgresql://bob:{PASSWORD}@db/forecasts?sslmode=require",
    f"mysql+mysqldb://bob:{PASSWORD}@127.0.0.1/db",
    "postgresql://bob:p%40" + PASSWORD + "@db/f",  # an encoded '@' in the password
    f"postgresql://bob:p@{PASSWORD}@db/f",  # a raw '@': SQLAlchemy's password stops at the first one
    f"postgresql://bob:{PASSWORD}@db:notaport/f",  # no URL SQLAlchemy parses
    f"postgresql://bob@db/f?sslmode=require&password={PASSWORD}",  # libpq's password parameter
]


@pytest.mark.parametrize("url", WITH_PASSWORD)
def test_a_password_is_never_shown(url):
    shown = shown_url(url)
    assert PASSWORD not in shown and MASK in shown
    assert shown.split("://")[0] == url.split("://")[0]  # the scheme, user and host stay readable
    assert "bob" in shown and "db" in shown.split("@")[-1]


def test_what_is_shown_is_the_same_url_but_its_password():
    url = f"postgresql+psycopg://bob:{PASSWORD}@db.internal:5432/forecasts?sslmode=require"
    assert sa.engine.make_url(shown_url(url)).set(password=PASSWORD) == sa.engine.make_url(url)
    assert shown_url(sa.engine.make_url(url)) == shown_url(url)  # an engine's URL object too


@pytest.mark.parametrize("url", ["sqlite:////tmp/out/results.sqlite", "sqlite:///relative.sqlite", "sqlite://",
                                 "sqlite:///:memory:", "sqlite:////tmp/odd@name.sqlite", "postgresql://bob@db/f"])
def test_a_url_without_password_is_shown_as_given(url):
    assert shown_url(url) == url


def test_a_drivers_error_is_its_first_line_without_the_password():
    url = f"postgresql://bob:{PASSWORD}@db/f"
    error = Exception(f"connection to {url} failed\n\tIs the server running on that host?")
    shown = shown_error(error, url)
    assert "\n" not in shown and PASSWORD not in shown
    assert shown.startswith("connection to postgresql://bob:") and shown.endswith("@db/f failed")
