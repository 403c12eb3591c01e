"""No password reaches what the commands print or write.

A password is planted where one can go: in the results store's URL.  A store
on a server would need a server; here the store is SQLite reached through a
URL with a user and a password, as a server's is (``sqlite+planted://bob:PW@//path``,
see ``planted_store.py``).  Each command then really runs on that store
(backtest, run, status, report, accuracy), each in a process of its own, its
logs at DEBUG, and then a run on a PostgreSQL URL that cannot be opened.
Every byte each one prints (standard output and error) and every file under
the test's folder (the log folders, ``run.json``, the CSV files, the report,
the backtest's files, the store itself) is searched for the password.

``forecasting spec`` is searched the same way for the secret values of the
``yarn:`` section's ``env``, which the containers get as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import skein
import yaml

from forecasting import errors
from forecasting.cli.main import main

PASSWORD = "pl4nted-S3cret"
RUN_DATE = "2024-03-04"  # the day after the synthetic cache's last day
PLANTED = Path(__file__).with_name("planted_store.py")


def _forecasting(folder: Path, *argv) -> subprocess.CompletedProcess:
    """``forecasting --log-level DEBUG ARGV`` in ``folder``, in a process of its own that knows the planted store's dialect."""
    return subprocess.run([sys.executable, str(PLANTED), "--log-level", "DEBUG", *argv], capture_output=True, text=True,
                          cwd=folder, timeout=300)


def _files_with_the_password(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file() and PASSWORD.encode() in p.read_bytes()]


@pytest.mark.slow  # tens of seconds of real runs: CI's slow pass, to keep `make test` under 10 minutes
def test_a_password_in_the_store_url_is_in_nothing_printed_or_written(synthetic_cache, tmp_path):
    url = f"sqlite+planted://bob:{PASSWORD}@/{tmp_path / 'store.sqlite'}"
    shown = url.replace(PASSWORD, "***")
    job = ["--cluster", "serial", "--regions", "r000,r001", "--models", "seasonal_naive", "--horizon", "2D"]
    done = {
        "backtest": _forecasting(tmp_path, "backtest", "--cache", str(synthetic_cache), "--out", str(tmp_path / "bt"), "--cutoffs", "1",
                                 "--log-dir", str(tmp_path / "bt-logs"), *job, "--store", url),
        "run": _forecasting(tmp_path, "run", "--cache", str(synthetic_cache), "--out", str(tmp_path / "out"), "--run-date", RUN_DATE,
                            "--log-dir", str(tmp_path / "logs"), *job, "--store", url),
    }
    (run_json,) = (tmp_path / "out" / "runs").glob("*/run.json")
    run_id = json.loads(run_json.read_text())["run_id"]
    done["status"] = _forecasting(tmp_path, "status", "--store", url)
    done["status RUN_ID"] = _forecasting(tmp_path, "status", run_id, "--store", url, "--json")
    done["report"] = _forecasting(tmp_path, "report", "latest", "--out", str(tmp_path / "report.html"), "--store", url)
    done["accuracy"] = _forecasting(tmp_path, "accuracy", "--cache", str(synthetic_cache), "--store", url,
                                    "--csv", str(tmp_path / "accuracy.csv"))
    assert {name: p.returncode for name, p in done.items()} == dict.fromkeys(done, errors.EXIT_OK), {n: p.stderr[-2000:] for n, p in done.items()}
    # A store that cannot be opened: its error names the URL (psycopg not installed: the error saying so does).
    done["failed run"] = _forecasting(tmp_path, "run", "--cache", str(synthetic_cache), "--out", str(tmp_path / "failed"), "--run-date",
                                      RUN_DATE, "--log-dir", str(tmp_path / "failed-logs"), *job,
                                      "--store", f"postgresql+psycopg://bob:{PASSWORD}@127.0.0.1:1/db")
    assert done["failed run"].returncode == errors.EXIT_USAGE
    leaks = [f"{name}: {stream}" for name, p in done.items() for stream in ("stdout", "stderr") if PASSWORD in getattr(p, stream)]
    assert leaks + _files_with_the_password(tmp_path) == []
    # The commands did use that store and said which one, masked: the search above looked where the URL is shown.
    assert f"store:       {shown}" in done["backtest"].stdout and f"store:     {shown}" in done["run"].stdout
    assert shown in (tmp_path / "logs" / "driver" / "driver.log").read_text()
    assert shown in (tmp_path / "report.html").read_text()


@pytest.fixture
def secret_yarn_config(tmp_path):
    (tmp_path / "environment.tar.gz").write_bytes(b"")
    (tmp_path / "cache.sqlite").write_bytes(b"")
    env = {"PGPASSWORD": PASSWORD, "AWS_SECRET_ACCESS_KEY": PASSWORD + "-aws", "API_TOKEN": PASSWORD + "-tok",
           "DATABASE_URL": f"postgresql+psycopg://bob:{PASSWORD}@db.internal/forecasts", "TZ": "UTC"}
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({"yarn": {"environment": str(tmp_path / "environment.tar.gz"), "env": env}}))
    return config, env


def test_forecasting_spec_prints_secret_environment_values_masked(capfd, secret_yarn_config, tmp_path):
    from deploy.yarn.config import load_yarn_config
    from deploy.yarn.spec import build_spec

    config, env = secret_yarn_config
    assert main(["spec", "--config", str(config), "--cache", str(tmp_path / "cache.sqlite")]) == errors.EXIT_OK
    out = capfd.readouterr().out
    assert PASSWORD not in out
    shown = skein.ApplicationSpec.from_yaml(out)
    for service in shown.services.values():
        assert service.env["TZ"] == "UTC"  # what is no secret is shown as it is
        assert service.env["DATABASE_URL"] == "postgresql+psycopg://bob:***@db.internal/forecasts"
        assert {service.env[k] for k in ("PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "API_TOKEN")} == {"***"}
    # What is submitted keeps them: the containers need the real values.
    submitted = build_spec(load_yarn_config(config), str(tmp_path / "cache.sqlite"))
    for service in submitted.services.values():
        assert {k: service.env[k] for k in env} == env
