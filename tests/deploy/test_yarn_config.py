"""The ``yarn:`` section: bad values refused up front, Kerberos, and a fuzzer.

Every bad value must be a :class:`ConfigError` raised before anything is
submitted; a config that validates must build a spec that skein accepts
(round trip through its protobuf and YAML), so nothing blows up later, at
submission time, on a cluster.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import skein
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.yarn.config import YarnConfig, load_yarn_config
from deploy.yarn.run import skein_client
from deploy.yarn.spec import build_spec
from forecasting.cli.main import main
from forecasting.errors import ClusterError, ConfigError, ForecastingError


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "environment.tar.gz"
    path.write_bytes(b"x")
    return path


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("forecasting: error:") and "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    "section, problem",
    [
        ({"worker_memroy": "4 GiB"}, "unknown key 'worker_memroy' (did you mean 'worker_memory'?)"),
        ({"worker_memory": "4GB"}, "did you mean '4 GiB'"),
        ({"worker_memory": 4096}, "did you mean '4096 MiB'"),
        ({"worker_memory": "4096"}, "did you mean '4096 MiB'"),
        ({"workers": 0}, "workers must be a whole number >= 1"),
        ({"environment": "/nowhere/environment.tar.gz"}, "environment: /nowhere/environment.tar.gz does not exist"),
        ({"principal": "svc@EXAMPLE.COM", "keytab": "/nowhere/svc.keytab"}, "keytab: /nowhere/svc.keytab does not exist"),
        ({"keytab": "/nowhere/svc.keytab"}, "give both principal and keytab"),
        ({"queue": 7}, "queue must be a string"),
        ({"tags": "nightly"}, "tags must be a list"),
        ({"tls": "yes please"}, "tls must be true or false"),
        ({"workers": 10**12}, "workers must be a whole number"),
        ({"worker_memory": "9999999 TiB"}, "more memory than YARN can grant"),
        ({"files": {"..": "/etc/hostname"}}, "files: '..' is reserved or not a plain name"),
        ({"env": {"A=B": "x"}}, "env: 'A=B' is not an environment variable name"),
        ({"name": "bad\x00name"}, "name contains a NUL character"),
        ({"environment_visibility": "private"}, "environment_visibility must be one of application, public"),
        ({"environment_visibility": "public"}, "environment_visibility: public needs the environment on the cluster's file system"),
    ],
)
def test_bad_yarn_sections_are_one_line_errors_before_anything_is_submitted(section, problem, archive, tmp_path, capsys):
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({"yarn": {"environment": str(archive), **section}}))
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"x")
    out = tmp_path / "out"
    # 'spec' validates exactly what 'run --cluster yarn' would submit, without a cluster.
    assert main(["spec", "--config", str(config), "--cache", str(cache)]) == 2
    assert problem in _one_line_error(capsys)
    assert main(["run", "--cluster", "yarn", "--config", str(config), "--cache", str(cache), "--out", str(out)]) == 2
    assert problem in _one_line_error(capsys)
    assert not out.exists()


def test_zero_workers_on_the_command_line(archive, tmp_path, capsys):
    config = tmp_path / "nightly.yaml"
    config.write_text(yaml.safe_dump({"yarn": {"environment": str(archive)}}))
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"x")
    assert main(["spec", "--config", str(config), "--cache", str(cache), "--workers", "0"]) == 2
    assert "workers must be a whole number >= 1" in _one_line_error(capsys)
    out = tmp_path / "out"
    assert main(["run", "--cluster", "local", "--workers", "0", "--cache", str(cache), "--out", str(out)]) == 2
    assert "--workers must be at least 1" in _one_line_error(capsys)
    assert not out.exists()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # skein's Client.__del__ after a failed start
def test_kerberos_principal_and_keytab_reach_skein(tmp_path):
    keytab = tmp_path / "svc.keytab"
    keytab.write_bytes(b"\x05\x02")
    env = tmp_path / "environment.tar.gz"
    env.write_bytes(b"x")
    config = YarnConfig.from_dict({"environment": str(env), "principal": "svc@EXAMPLE.COM", "keytab": str(keytab)}).check_files()
    assert (config.principal, config.keytab) == ("svc@EXAMPLE.COM", str(keytab))
    # Without driver_address skein starts its Java driver with --keytab/--principal.  Here
    # there is no java or yarn, so that fails, and the failure is a one-line ClusterError;
    # with the keytab gone after validation, skein's own keytab check shows it was handed over.
    with pytest.raises(ClusterError, match="cannot connect to a new skein driver"):
        with skein_client(config):
            pass
    keytab.unlink()
    with pytest.raises(ClusterError, match=f"keytab doesn't exist at '{keytab}'"):
        with skein_client(config):
            pass
    with pytest.raises(ConfigError, match="principal and keytab are used only when skein starts its own driver"):
        YarnConfig.from_dict({**config.to_dict(), "driver_address": "localhost:1"}).check_files()


# --------------------------------------------------------------------------- fuzzing

_TEXT = st.one_of(
    st.text(max_size=16),
    st.sampled_from(["", " ", "4GB", "4096", "4 GiB", "0 MiB", "512MiB", "1.5 GiB", "9999999999 TiB", "120s", "0s", "soon",
                     "-1", "environment", "cache.sqlite", "a/b", "x'; rm -rf /; '", "\x00", "é☕"]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.floats(allow_nan=True), _TEXT)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.one_of(_TEXT, st.integers()), children, max_size=3)),
    max_leaves=8,
)
_KEYS = sorted(YarnConfig().to_dict())


def _sections(archive_path: str):
    """Mostly real keys; the archive exists so that validation goes past the file checks."""
    keys = st.one_of(st.sampled_from(_KEYS), _TEXT)
    section = st.dictionaries(keys, _VALUES, max_size=6).map(lambda d: {"environment": archive_path, **d})
    return st.one_of(section, _VALUES)


#: Stands for the archive in generated sections; the test puts its real path there.
_ARCHIVE = "<archive>"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("yarn-fuzz") / "environment.tar.gz"
    path.write_bytes(b"x")
    return str(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section=_sections(_ARCHIVE), raw=st.one_of(st.none(), st.text(max_size=100)))
def test_fuzz_yarn_config_only_raises_config_errors_and_valid_ones_build_a_spec(archive, section, raw):
    if isinstance(section, dict) and section.get("environment") == _ARCHIVE:
        section = {**section, "environment": archive}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(raw if raw is not None else yaml.safe_dump({"yarn": section}), encoding="utf-8", errors="surrogatepass")
        cache = Path(tmp) / "cache.sqlite"
        cache.write_bytes(b"x")
        try:
            config = load_yarn_config(path).check_files()
        except ForecastingError as exc:
            assert str(exc).startswith((str(path), "yarn: ")) and "\n" not in str(exc), str(exc)
            return
        spec = build_spec(config, str(cache))
        spec.to_protobuf()  # what skein sends: every value in range and of the right type
        assert skein.ApplicationSpec.from_yaml(spec.to_yaml()) == spec


def test_the_gist_of_a_skein_driver_log_is_its_last_cause_without_the_stack_trace(tmp_path):
    from deploy.yarn.run import KERBEROS_LOGIN_FAILED_RE, _driver_gist

    log = tmp_path / "skein-driver.log"
    log.write_text(
        "26/12/03 23:47:40 INFO skein.Driver: Starting\n"
        "Exception in thread \"main\" org.apache.hadoop.security.KerberosAuthException: failure to login\n"
        "\tat org.apache.hadoop.security.UserGroupInformation.doSubjectLogin(UserGroupInformation.java:2069)\n"
        "Caused by: javax.security.auth.login.LoginException: Unable to obtain password from user\n"
        "\tat java.base/com.sun.security.auth.module.Krb5LoginModule.promptForPass(Krb5LoginModule.java:874)\n")
    gist = _driver_gist(log)
    assert gist == "javax.security.auth.login.LoginException: Unable to obtain password from user"
    assert KERBEROS_LOGIN_FAILED_RE.search(gist)
    assert _driver_gist(tmp_path / "never-written.log") == ""
