"""The ``cluster:`` section (certificates of a ``tls://`` scheduler), checked before anything connects.

No scheduler here (``test_tls_scheduler.py`` has one): these are the checks
at the edge, on real certificate files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.cluster_config import load_cluster_config
from forecasting.errors import ConfigError, UsageError
from forecasting.runs.backends import prepare_backend
from tls_certs import make_ca, make_cert  # noqa: E402 - tests/deploy is on sys.path (rootdir-less test folders)


@pytest.fixture(scope="module")
def cert_folder(tmp_path_factory) -> Path:
    """``ca.pem``, ``dask.crt`` and ``dask.key``, and ``other.crt``/``other.key`` (another key pair)."""
    folder = tmp_path_factory.mktemp("certs")
    _, ca = make_ca(folder, "ca")
    make_cert(folder, ca, "dask")
    make_cert(folder, ca, "other")
    return folder


def _config(path: Path, cluster) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"forecasting": {"horizon": "2D"}, "cluster": cluster}))
    return path


def _files(folder, cert="dask.crt", key="dask.key"):
    return {"tls_ca_file": str(folder / "ca.pem"), "tls_cert": str(folder / cert), "tls_key": str(folder / key)}


def test_relative_paths_are_taken_from_the_config_files_folder(cert_folder, tmp_path, monkeypatch):
    config = _config(tmp_path / "conf" / "nightly.yaml", {"tls_ca_file": "certs/ca.pem", "tls_cert": str(cert_folder / "dask.crt"),
                                                           "tls_key": "~/dask.key"})
    monkeypatch.chdir(cert_folder)  # (where a relative path would otherwise be found)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    loaded = load_cluster_config(config)
    assert Path(loaded.tls_ca_file) == tmp_path / "conf" / "certs" / "ca.pem"
    assert Path(loaded.tls_cert) == cert_folder / "dask.crt"  # absolute: as it is
    assert Path(loaded.tls_key) == tmp_path / "home" / "dask.key"
    # The CA is looked for next to the config, not here: where it is missing, the error says so.
    with pytest.raises(ConfigError, match=f"cluster.tls_ca_file: {tmp_path / 'conf' / 'certs' / 'ca.pem'} does not exist"):
        prepare_backend("tls://127.0.0.1:8786", config_path=config)
    (tmp_path / "conf" / "certs").mkdir()
    (tmp_path / "conf" / "certs" / "ca.pem").write_bytes((cert_folder / "ca.pem").read_bytes())
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dask.key").write_bytes((cert_folder / "dask.key").read_bytes())
    security = prepare_backend("tls://127.0.0.1:8786", config_path=config).options["security"]
    assert security.require_encryption
    assert (security.tls_ca_file, security.tls_client_cert, security.tls_client_key) == (
        loaded.tls_ca_file, loaded.tls_cert, loaded.tls_key)


@pytest.mark.parametrize("cluster, message", [
    ({"tls_ca_file": "ca.pem"}, r": cluster: give tls_ca_file, tls_cert and tls_key together \(missing: tls_cert, tls_key\)"),
    ({"tls_ca_file": "ca.pem", "tls_crt": "x", "tls_key": "y"}, r": cluster: unknown key 'tls_crt' \(did you mean 'tls_cert'\?\)"),
    ({"tls_ca_file": 1, "tls_cert": "x", "tls_key": "y"}, r": cluster: tls_ca_file must be a string, got 1"),
])
def test_a_bad_section_is_one_line_naming_file_section_and_key(cluster, message, tmp_path):
    config = _config(tmp_path / "c.yaml", cluster)
    with pytest.raises(ConfigError, match=f"^{config}{message}") as bad:
        load_cluster_config(config)
    assert "\n" not in str(bad.value)


def test_files_are_read_before_connecting(cert_folder, tmp_path):
    (tmp_path / "empty.crt").write_text("")
    for files, message, key in [
        ({**_files(cert_folder), "tls_key": str(tmp_path / "gone.key")}, f"cluster.tls_key: {tmp_path / 'gone.key'} does not exist", "tls_key"),
        (_files(cert_folder, key="other.key"), "cluster.tls_cert, tls_key: cannot load .* a key of another certificate", "tls_cert"),
        ({**_files(cert_folder), "tls_ca_file": str(tmp_path / "empty.crt")}, "cluster.tls_ca_file: .* is not a PEM CA certificate", "tls_ca_file"),
    ]:
        config = _config(tmp_path / f"{key}.yaml", files)
        with pytest.raises(ConfigError, match=f"^{config}: {message}") as bad:
            prepare_backend("tls://127.0.0.1:8786", config_path=config)
        assert bad.value.key == key and "\n" not in str(bad.value)


def test_the_address_and_the_certificates_go_together(cert_folder, tmp_path):
    with_certs, without = _config(tmp_path / "tls.yaml", _files(cert_folder)), _config(tmp_path / "plain.yaml", None)
    for config in (None, without):
        with pytest.raises(UsageError, match=r"^cluster: tls://h:1 needs TLS certificates: name tls_ca_file") as bad:
            prepare_backend("tls://h:1", config_path=config)
        assert bad.value.param == "cluster"
    with pytest.raises(UsageError, match=r"^cluster: tcp://h:1 is not encrypted, .* names TLS certificates: use tls://h:1$"):
        prepare_backend("tcp://h:1", config_path=with_certs)
    assert prepare_backend("tcp://h:1", config_path=without).options["security"] is None
    # Other back ends never read the section.
    assert "security" not in prepare_backend("serial", config_path=with_certs).options


def test_a_security_given_is_used_as_it_is(cert_folder):
    from distributed.security import Security

    security = Security(**{"tls_ca_file": str(cert_folder / "ca.pem"), "tls_client_cert": str(cert_folder / "dask.crt"),
                           "tls_client_key": str(cert_folder / "dask.key")}, require_encryption=True)
    assert prepare_backend("tls://h:1", security=security).options["security"] is security


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), _TEXT, st.sampled_from(["~", "~nobody-here/ca.pem", "a" * 300, "/"]),
                    st.lists(_TEXT, max_size=2), st.dictionaries(_TEXT, _TEXT, max_size=2))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(section=st.one_of(st.fixed_dictionaries({k: _VALUES for k in ("tls_ca_file", "tls_cert", "tls_key")}),
                         st.dictionaries(st.one_of(st.sampled_from(["tls_ca_file", "tls_cert", "tls_key"]), _TEXT), _VALUES,
                                         max_size=4), _VALUES))
def test_fuzz_cluster_section_only_raises_config_errors(section, tmp_path):
    """Whatever the section holds, a one-line ConfigError or UsageError (a bug's traceback otherwise)."""
    config = tmp_path / "fuzz.yaml"
    config.write_text(yaml.safe_dump({"cluster": section}))
    try:
        prepare_backend("tls://h:1", config_path=config)
    except (ConfigError, UsageError) as exc:
        assert "\n" not in str(exc)
