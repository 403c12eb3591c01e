"""An existing Dask scheduler over TLS (``--cluster tls://host:port``), end to end.

A real ``dask scheduler --protocol tls`` and ``dask worker`` with certificates
made for the test (a CA of its own, ``tls_certs``); the nightly run and the
backtest go through the command line and the Python API with the config's
``cluster:`` section.  Without certificates, or with those of another CA, the
command refuses with one line, and the scheduler never hears from it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import forecasting
from forecasting import errors
from forecasting.cli.main import main
from tls_certs import make_ca, make_cert  # noqa: E402 - tests/deploy is on sys.path (rootdir-less test folders)


class _TlsDask:
    """A ``dask scheduler`` serving TLS only and one ``dask worker``, both with the same certificate.

    The scheduler binds a free port itself (``--port 0``) and writes its
    address to a scheduler file.  Whatever happens while they start, both
    processes are killed before the error goes on; :meth:`close` kills them too.
    """

    def __init__(self, folder: Path, ca: Path, cert: Path, key: Path):
        bindir = Path(sys.executable).parent
        tls = ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
        scheduler_file = folder / "scheduler.json"
        self.log = folder / "dask.log"
        self._log = open(self.log, "wb")
        self.procs = []
        try:
            for args in (["scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0"],
                         ["worker", "--nworkers", "1", "--nthreads", "1"]):
                self.procs.append(subprocess.Popen(
                    [bindir / "dask", *args, "--no-dashboard", "--scheduler-file", scheduler_file, *tls],
                    stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True))
            deadline = time.monotonic() + 60
            while not scheduler_file.exists() and self.procs[0].poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if not scheduler_file.exists():
                raise RuntimeError(f"dask scheduler did not start (exit {self.procs[0].poll()}), see {self.log}")
            self.address = json.loads(scheduler_file.read_text())["address"]
            from distributed import Client
            from distributed.security import Security

            # The test's own client: waits for the worker, then counts the clients the scheduler sees.
            self.client = Client(self.address, timeout=30, security=Security(
                tls_ca_file=str(ca), tls_client_cert=str(cert), tls_client_key=str(key), require_encryption=True))
            self.client.wait_for_workers(1, timeout=60)
        except BaseException:
            self.close()
            raise

    def clients_seen(self) -> int:
        """Clients that have ever connected to the scheduler (its ``add-client`` events)."""
        return self.client.run_on_scheduler(
            lambda dask_scheduler: sum(1 for _, e in dask_scheduler.get_events("all") if e.get("action") == "add-client"))

    def close(self):
        if getattr(self, "client", None) is not None:
            self.client.close()
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """``{ca, cert, key}`` signed by the test's CA, and ``{other_ca, stranger_cert, stranger_key}`` by another."""
    folder = tmp_path_factory.mktemp("certs")
    ca, ca_key = make_ca(folder, "ca")
    cert, key = make_cert(folder, ca_key, "dask")
    other_ca, other_key = make_ca(folder, "other-ca")
    stranger_cert, stranger_key = make_cert(folder, other_key, "stranger")
    return dict(ca=ca, cert=cert, key=key, other_ca=other_ca, stranger_cert=stranger_cert, stranger_key=stranger_key)


@pytest.fixture(scope="module")
def tls_dask(tmp_path_factory, certs, request):
    dask_processes = _TlsDask(tmp_path_factory.mktemp("tls-dask"), certs["ca"], certs["cert"], certs["key"])
    request.addfinalizer(dask_processes.close)  # on every exit path of the module's tests
    return dask_processes


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "cache.sqlite"
    assert main(["--log-level", "WARNING", "cache", "build", "--synthetic", "--regions", "2", "--days", "30", "--out", str(path)]) == 0
    return path


def _config(folder: Path, cluster: dict | None) -> Path:
    """A config with cheap models (and a 'cluster:' section when given) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"forecasting": {"horizon": "2D", "models": ["seasonal_naive"], "min_history": "14D"},
           "backtest": {"horizon": "2D", "cutoffs": 1, "models": ["seasonal_naive"]}}
    if cluster is not None:
        doc["cluster"] = {k: str(v) for k, v in cluster.items()}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(cache, out, address, config=None, command="run"):
    extra = ["--config", str(config)] if config is not None else []
    return main(["--log-level", "WARNING", command, "--cache", str(cache), "--out", str(out), "--cluster", address, *extra])


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def tls_config(tmp_path, certs) -> Path:
    """A config whose 'cluster:' section names the certificates relative to its own folder."""
    (tmp_path / "certs").mkdir()
    for name in ("ca", "cert", "key"):
        (tmp_path / "certs" / certs[name].name).write_bytes(certs[name].read_bytes())
    return _config(tmp_path / "conf", {"tls_ca_file": "../certs/ca.pem", "tls_cert": "../certs/dask.crt",
                                       "tls_key": "../certs/dask.key"})


def test_nightly_run_and_backtest_commands_over_tls(tls_dask, tls_config, tiny_cache, tmp_path, capsys, monkeypatch):
    (tmp_path / "cron" / "cwd").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cron" / "cwd")  # where ../certs is not: relative paths are the config's
    before = tls_dask.clients_seen()
    assert _run(tiny_cache, tmp_path / "run", tls_dask.address, tls_config) == errors.EXIT_OK
    (forecasts,) = (tmp_path / "run" / "runs").glob("*/forecasts.csv")
    assert set(pd.read_csv(forecasts).region) == {"r000", "r001"}
    assert _run(tiny_cache, tmp_path / "bt", tls_dask.address, tls_config, command="backtest") == errors.EXIT_OK
    assert set(forecasting.champions(tmp_path / "bt" / "results.sqlite").region) == {"r000", "r001"}
    capsys.readouterr()
    # Both went through this scheduler (the only one there is), over TLS (the only protocol it serves).
    assert tls_dask.clients_seen() - before == 2


def test_python_api_over_tls(tls_dask, tls_config, tiny_cache):
    before = tls_dask.clients_seen()
    bt = forecasting.backtest(tiny_cache, cluster=tls_dask.address, config=tls_config, progress=False)
    assert set(bt.champions.region) == {"r000", "r001"}
    result = forecasting.forecast(tiny_cache, cluster=tls_dask.address, config=tls_config, progress=False)
    assert result.status == "succeeded" and set(result.forecasts.region) == {"r000", "r001"}
    assert tls_dask.clients_seen() - before == 2


def test_tls_address_without_certificates_fails_before_connecting(tls_dask, tiny_cache, tmp_path, capsys):
    before = tls_dask.clients_seen()
    for config in (None, _config(tmp_path / "conf", None)):
        out = tmp_path / f"out-{config is None}"
        assert _run(tiny_cache, out, tls_dask.address, config) == errors.EXIT_USAGE
        line = _error_line(capsys)
        assert line.startswith(f"forecasting: error: --cluster: {tls_dask.address} needs TLS certificates")
        assert "'cluster:' section" in line and "tls_ca_file" in line
        assert not out.exists()  # nothing written
    assert tls_dask.clients_seen() == before  # nothing submitted: the scheduler never heard from us


@pytest.mark.parametrize("which", ["other CA", "stranger client"])
def test_certificates_the_other_side_does_not_trust_fail_with_one_line(which, tls_dask, certs, tiny_cache, tmp_path, capsys):
    if which == "other CA":  # this client does not trust the scheduler
        cluster, expected = {"tls_ca_file": certs["other_ca"], "tls_cert": certs["cert"], "tls_key": certs["key"]}, \
            "its certificate is not signed by a CA of tls_ca_file"
    else:  # the scheduler does not trust this client
        cluster, expected = {"tls_ca_file": certs["ca"], "tls_cert": certs["stranger_cert"],
                             "tls_key": certs["stranger_key"]}, "tls_cert"
    start = time.monotonic()
    assert _run(tiny_cache, tmp_path / "out", tls_dask.address, _config(tmp_path, cluster)) == errors.EXIT_CLUSTER
    line = _error_line(capsys)
    assert line.startswith(f"forecasting: error: cannot connect to the Dask scheduler at {tls_dask.address}: ")
    assert expected in line
    assert time.monotonic() - start < 20  # refused at once, not after the connect timeout (30 s)
