"""``forecasting report``: one self-contained HTML page per run, checked in headless Chromium too.

A real synthetic cache and a real serial run (one region poisoned, two with
names full of markup) feed every test; nothing is mocked.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from forecasting import errors
from forecasting.cli.main import main
from forecasting.data.cache import open_cache
from forecasting.reports.figures import palette_png
from forecasting.reports.html import DPI, FIGSIZE, HISTORY, write_report
from forecasting.reports.plots import plot_region_forecast
from forecasting.store.runs import ResultsStore

#: Region ids with markup in them: the report must show them as text.
FAILING = 'r001<script>alert("boom")</script>&'
ODD = "r002 & <i>Süd</i>"
OK_REGIONS = ["r000", ODD]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- fixtures


def _rename_region(conn, old, new):
    for table in ("regions", "orders", "exogenous", "events", "promotions", "holidays"):
        conn.execute(f"UPDATE {table} SET region = ? WHERE region = ?", (new, old))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 3-region cache and a serial run of it: r000 ok, ODD ok, FAILING failed (all orders unknown)."""
    root = tmp_path_factory.mktemp("report")
    cache = root / "cache.sqlite"
    assert main(["--log-level", "WARNING", "cache", "build", "--synthetic", "--regions", "3", "--days", "60", "--out", str(cache)]) == 0
    with sqlite3.connect(cache) as conn:
        _rename_region(conn, "r001", FAILING)
        _rename_region(conn, "r002", ODD)
        conn.execute("UPDATE orders SET orders = NULL WHERE region = ?", (FAILING,))
    conn.close()
    results = root / "results"
    code = main(["--log-level", "WARNING", "run", "--cache", str(cache), "--out", str(results), "--cluster", "serial",
                 "--horizon", "3D", "--models", "seasonal_naive", "--max-failed-fraction", "0.5"])
    assert code == errors.EXIT_SOME_FAILED
    store = ResultsStore(f"sqlite:///{results / 'results.sqlite'}")
    try:
        run_id = store.recent_runs(1).run_id.iloc[0]
    finally:
        store.close()
    return {"root": root, "cache": cache, "results": results, "run_id": run_id}


@pytest.fixture(scope="module")
def report(run):
    out = run["root"] / "report.html"
    assert main(["report", "latest", "--out", str(out), "--results", str(run["results"])]) == errors.EXIT_OK
    return out


class _Page(HTMLParser):
    """Images, headings and the text of a page, as a browser would see them."""

    def __init__(self):
        super().__init__()
        self.images, self.text, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def _png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel: a truncated PNG fails here
    return image


# --------------------------------------------------------------------------- content


def test_summary_failures_timings_and_one_png_per_forecast_region(run, report):
    page = report.read_text(encoding="utf-8")
    parsed = _parse(page)
    text = " ".join(parsed.text)
    assert f"Forecast run {run['run_id']}" in text
    for expected in ("nightly", "partial", "serial", "Config hash", "Code version", "1 of 3 regions failed", "Wall time"):
        assert expected in text
    assert "3 · 2 ok · 1 failed" in html.unescape(re.sub(r"<[^>]+>", "", page))

    plots = [img for img in parsed.images if img.get("class") == "forecast"]
    assert len(plots) == len(parsed.images) == len(OK_REGIONS)
    assert sorted(img["alt"] for img in plots) == sorted(f"forecast of {r}" for r in OK_REGIONS)
    for img in plots:
        image = _png(img["src"])
        assert image.size == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
        assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 10  # drawn, not blank

    # Timings: every region, slowest first, with status, attempts, worker.
    table = page[page.index('<table class="timings"'):]
    table = table[:table.index("</table>")]
    seconds = [float(s) for s in re.findall(r'<td class="num">([0-9.]+)</td><td style', table)]
    assert len(seconds) == 3 and seconds == sorted(seconds, reverse=True)
    assert table.count('class="failed">failed<') == 1 and table.count('class="ok">ok<') == 2
    assert ">nan<" not in table  # the failed region's missing model is blank

    # Self-contained: no script, no external resource, nothing fetched.
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)
    assert "Content-Security-Policy" in page


def test_untrusted_names_messages_and_tracebacks_are_escaped(report):
    page = report.read_text(encoding="utf-8")
    assert FAILING not in page and ODD not in page
    assert html.escape(FAILING) in page  # in the failures, the timings and the summary of the failure
    assert html.escape(ODD) in page
    parsed = _parse(page)
    assert "i" not in parsed.tags and "script" not in parsed.tags
    failure = page[page.index("<h2>Failures"):page.index("<h2>Timings")]
    assert "RegionDataError" in failure
    traceback = html.unescape(re.search(r"<pre>(.*?)</pre>", failure, re.S).group(1))
    assert traceback.startswith("Traceback") and "forecast_region" in traceback


def test_a_missing_cache_gives_forecasts_only_with_a_note(run, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(run["results"] / "results.sqlite", results / "results.sqlite")
    with sqlite3.connect(results / "results.sqlite") as conn:
        conn.execute("UPDATE runs SET cache_path = ?", (str(tmp_path / "gone" / "cache.sqlite"),))
    conn.close()
    store = ResultsStore(f"sqlite:///{results / 'results.sqlite'}")
    try:
        summary = write_report(store, run["run_id"], tmp_path / "sub" / "report.html")
    finally:
        store.close()
    assert summary.cache_available is False and summary.n_plots == 2 and summary.n_regions == 3
    page = summary.path.read_text(encoding="utf-8")
    assert "not available" in page and "forecasts only" in page
    images = [img for img in _parse(page).images if img.get("class") == "forecast"]
    assert len(images) == 2
    for img in images:
        _png(img["src"])


def test_store_url_explicit_run_id_and_atomic_replace(run, tmp_path, capsys, store_url):
    """From the run's SQLite store, and from a PostgreSQL store holding the same rows."""
    out = tmp_path / "report.html"
    out.write_text("old")
    url = f"sqlite:///{run['results'] / 'results.sqlite'}"
    if not store_url.startswith("sqlite"):
        from live_history import copy_store

        copy_store(url, store_url)
        url = store_url
    assert main(["report", run["run_id"], "--out", str(out), "--store", url, "--history", "3D"]) == errors.EXIT_OK
    assert f"run {run['run_id']}, 3 regions, 2 plots" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error:")
    return err[0]


def test_bad_run_id_and_missing_store_exit_2_with_one_line(run, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "no-such-run", "--out", str(out), "--results", str(run["results"])]) == errors.EXIT_USAGE
    assert "no-such-run" in _one_line_error(capsys)
    assert main(["report", "latest", "--out", str(out), "--results", str(tmp_path)]) == errors.EXIT_USAGE
    assert "no results store" in _one_line_error(capsys)
    missing = tmp_path / "missing.sqlite"
    assert main(["report", "latest", "--out", str(out), "--store", f"sqlite:///{missing}"]) == errors.EXIT_USAGE
    _one_line_error(capsys)
    assert not missing.exists()  # not created by asking
    assert main(["report", "latest", "--out", str(out)]) == errors.EXIT_USAGE
    assert "--results" in _one_line_error(capsys)
    assert main(["report", run["run_id"], "--out", str(out), "--results", str(run["results"]), "--history", "soon"]) == errors.EXIT_USAGE
    assert "--history" in _one_line_error(capsys)
    assert not out.exists()


def test_latest_on_an_empty_store_is_a_usage_error(tmp_path, capsys):
    ResultsStore(f"sqlite:///{tmp_path / 'results.sqlite'}").close()
    assert main(["report", "latest", "--out", str(tmp_path / "r.html"), "--results", str(tmp_path)]) == errors.EXIT_USAGE
    assert "no runs" in _one_line_error(capsys)


def test_markup_in_names_messages_and_workers_is_text_in_the_template(run, tmp_path):
    """Every value the template prints is escaped: none can open a tag, each reads back as the text it was."""
    hostile = {
        "region": '<script>alert("region")</script>',
        "message": "<script>alert('run')</script> & more",
        "error": '<script>document.title="x"</script>',
        "worker": "<img src=x onerror=alert(1)>",
    }
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(run["results"] / "results.sqlite", results / "results.sqlite")
    with sqlite3.connect(results / "results.sqlite") as conn:
        conn.execute("UPDATE runs SET message = ?", (hostile["message"],))
        conn.execute("UPDATE region_runs SET message = ?, worker = ? WHERE status = 'failed'", (hostile["error"], hostile["worker"]))
        for table in ("region_runs", "forecasts"):
            conn.execute(f"UPDATE {table} SET region = ? WHERE region = 'r000'", (hostile["region"],))
    conn.close()
    store = ResultsStore(f"sqlite:///{results / 'results.sqlite'}")
    try:
        page = write_report(store, run["run_id"], tmp_path / "report.html").path.read_text(encoding="utf-8")
    finally:
        store.close()
    parsed = _parse(page)
    assert "<script" not in page.lower() and "script" not in parsed.tags
    assert all(img.get("class") == "forecast" and "onerror" not in img for img in parsed.images)
    text = "".join(parsed.text)
    for value in hostile.values():
        assert value in text  # shown, as text
    assert f"forecast of {hostile['region']}" in [img["alt"] for img in parsed.images]


def test_the_report_plots_a_region_with_the_backtest_plot(run, report, tmp_path):
    """A region's image in the report is the backtest's PNG of the same data (report size, no title) in 64 colours."""
    store = ResultsStore(f"sqlite:///{run['results'] / 'results.sqlite'}")
    try:
        frame = store.forecasts(run["run_id"], "r000").set_index("timestamp")
    finally:
        store.close()
    cache = open_cache(run["cache"])
    orders = cache.orders_between("r000", frame.index[0] - pd.Timedelta(HISTORY), frame.index[-1])
    window = frame[["yhat", "q10", "q90"]].assign(actual=orders.reindex(frame.index))
    png = plot_region_forecast(tmp_path / "r000.png", "r000", orders, window, "seasonal_naive", cache.timezones()["r000"],
                               dpi=DPI, figsize=FIGSIZE, title=False)
    (img,) = [img for img in _parse(report.read_text(encoding="utf-8")).images if img["alt"] == "forecast of r000"]
    assert base64.b64decode(img["src"].split(",", 1)[1]) == palette_png(png.read_bytes())


# --------------------------------------------------------------------------- in a browser


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.environ.get("FORECASTING_REQUIRE_CHROMIUM") == "1":
        pytest.fail("FORECASTING_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("chromium is not installed")


def _headless(exe, tmp_path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


#: Appended to a copy of the report: writes what the browser decoded of each
#: plot into the DOM, which --dump-dom then prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify([...document.images].map(i => [i.className, i.complete, i.naturalWidth, i.naturalHeight]));
  document.body.appendChild(out);
});
</script>"""


def test_report_renders_in_headless_chromium(run, report, tmp_path):
    exe = _chromium()
    page = shutil.copy(report, tmp_path / "report.html")

    # 1. The report as it is (its Content-Security-Policy forbids scripts): the summary and one plot per region.
    dom = _headless(exe, tmp_path, "--dump-dom", "--virtual-time-budget=5000", page.as_uri()).stdout
    parsed = _parse(dom)
    text = " ".join(parsed.text)
    assert f"Forecast run {run['run_id']}" in text and "partial" in text and "RegionDataError" in text
    plots = [img for img in parsed.images if img.get("class") == "forecast"]
    assert len(plots) == len(OK_REGIONS)
    assert "script" not in parsed.tags and "i" not in parsed.tags  # the odd names stayed text in the browser too

    # 2. A copy with a probe (its policy extended only by inline scripts): every plot decoded at full size.
    source = report.read_text(encoding="utf-8")
    probed = source.replace("style-src 'unsafe-inline'", "style-src 'unsafe-inline'; script-src 'unsafe-inline'", 1)
    probed = probed.replace("</body>", PROBE + "</body>", 1)
    assert probed != source
    (tmp_path / "probe.html").write_text(probed, encoding="utf-8")
    dom = _headless(exe, tmp_path, "--dump-dom", "--virtual-time-budget=5000", (tmp_path / "probe.html").as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run"
    decoded = json.loads(html.unescape(found.group(1)))
    assert decoded == [["forecast", True, int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)]] * len(OK_REGIONS)

    # 3. A screenshot of the page: the plots' blue forecast lines are on screen.
    shot = tmp_path / "shot.png"
    _headless(exe, tmp_path, "--hide-scrollbars", "--window-size=1200,2000", f"--screenshot={shot}", page.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    blue = int((np.abs(pixels - [31, 119, 180]).max(axis=2) < 30).sum())
    assert blue > 2000, blue
