"""Packing a virtualenv for YARN: real small virtualenvs, real venv-pack."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import venv_pack

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib
from venvs import base_python  # noqa: E402

from deploy.packing import PackResult, pack_environment
from forecasting.errors import UsageError


def make_venv(path: Path) -> Path:
    """A bare virtualenv (no pip: fast, and nothing installed)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python*/site-packages")
    return found


def install(venv: Path, name: str, version: str = "1.0", code: str = "VALUE = 1\n", direct_url: dict | None = None) -> Path:
    """Install a one-module distribution by hand, the way pip lays it out."""
    sp = site_packages(venv)
    (sp / name).mkdir(exist_ok=True)
    (sp / name / "__init__.py").write_text(code)
    info = sp / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    digest = str(abs(hash(code)))
    (info / "RECORD").write_text(f"{name}/__init__.py,sha256={digest},{len(code)}\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    return info


@pytest.fixture
def venv(tmp_path):
    env = make_venv(tmp_path / "venv")
    install(env, "tinypkg")
    return env


@pytest.fixture
def out(tmp_path):
    return tmp_path / "dist" / "environment.tar.gz"


def test_pack_contains_site_packages_but_no_interpreter(venv, out, tmp_path):
    result = pack_environment(out, prefix=venv)

    assert isinstance(result, PackResult)
    assert result.path == str(out) and not result.reused
    assert result.size_bytes == out.stat().st_size > 0
    assert result.python == base_python(venv)
    assert result.packages == 1
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
    state = json.loads(Path(f"{out}.sha256").read_text())
    assert state["sha256"] == result.sha256
    assert state["packages"] == ["tinypkg==1.0"]

    sp = site_packages(venv).relative_to(venv).as_posix()
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert f"{sp}/tinypkg/__init__.py" in members
    assert f"{sp}/tinypkg-1.0.dist-info/METADATA" in members
    pythons = [m for name, m in members.items() if name.startswith("bin/python")]
    assert pythons, "bin/python should be in the archive, as a link"
    assert all(m.issym() for m in pythons), "the archive must not carry an interpreter binary"
    assert any(m.linkname == result.python for m in pythons)

    # Unpacked elsewhere, the archive runs on the base interpreter it links to.
    unpacked = tmp_path / "container"
    with tarfile.open(out) as tar:
        # The link to the interpreter is absolute: the "data" filter would refuse it.
        kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        tar.extractall(unpacked, **kwargs)
    run = subprocess.run([str(unpacked / "bin" / "python"), "-c", "import sys, tinypkg; print(sys.prefix, tinypkg.VALUE)"], capture_output=True, text=True, check=True)
    assert run.stdout.split() == [str(unpacked), "1"]


def test_second_call_reuses_the_archive(venv, out):
    first = pack_environment(out, prefix=venv)
    stat = out.stat()

    second = pack_environment(out, prefix=venv)

    assert second.reused and not first.reused
    assert second.sha256 == first.sha256
    assert second.size_bytes == first.size_bytes
    assert out.stat().st_mtime_ns == stat.st_mtime_ns and out.stat().st_ino == stat.st_ino


def test_changed_packages_are_repacked(venv, out):
    first = pack_environment(out, prefix=venv)

    install(venv, "otherpkg", "2.0")
    added = pack_environment(out, prefix=venv)
    assert not added.reused and added.sha256 != first.sha256 and added.packages == 2
    assert json.loads(Path(f"{out}.sha256").read_text())["packages"] == ["otherpkg==2.0", "tinypkg==1.0"]
    with tarfile.open(out) as tar:
        assert any("otherpkg-2.0.dist-info" in name for name in tar.getnames())

    # Same name and version, rebuilt with other code: RECORD changes, so it counts.
    site = site_packages(venv)
    for path in sorted((site / "otherpkg-2.0.dist-info").iterdir()):
        path.unlink()
    (site / "otherpkg-2.0.dist-info").rmdir()
    install(venv, "otherpkg", "2.0", code="VALUE = 2\n")
    rebuilt = pack_environment(out, prefix=venv)
    assert not rebuilt.reused and rebuilt.sha256 != added.sha256
    assert pack_environment(out, prefix=venv).reused


def test_force_repacks_an_up_to_date_archive(venv, out):
    first = pack_environment(out, prefix=venv)
    forced = pack_environment(out, prefix=venv, force=True)
    assert not forced.reused and forced.sha256 == first.sha256


def test_a_damaged_hash_file_means_repack(venv, out):
    pack_environment(out, prefix=venv)
    Path(f"{out}.sha256").write_text("not json")
    assert not pack_environment(out, prefix=venv).reused
    assert pack_environment(out, prefix=venv).reused


def test_an_archive_of_another_size_than_recorded_is_repacked(venv, out):
    pack_environment(out, prefix=venv)
    with open(out, "ab") as fh:
        fh.write(b"junk")
    assert not pack_environment(out, prefix=venv).reused


def test_editable_install_is_refused_with_its_name(venv, out):
    install(venv, "editable_pkg", direct_url={"url": "file:///home/me/editable_pkg", "dir_info": {"editable": True}})
    # A non-editable install from a folder is fine.
    install(venv, "folder_pkg", direct_url={"url": "file:///home/me/folder_pkg", "dir_info": {}})

    with pytest.raises(UsageError, match=r"editable installs \(editable_pkg\).*reinstall without -e: pip install \.") as info:
        pack_environment(out, prefix=venv)
    assert "\n" not in str(info.value)
    assert not out.parent.exists()


@pytest.mark.parametrize(
    "filename, content, name",
    [
        ("__editable__.modern_pkg-0.1.0.pth", "import __editable___modern_pkg_0_1_0_finder; __editable___modern_pkg_0_1_0_finder.install()\n", "modern_pkg"),
        ("legacy-pkg.egg-link", "/home/me/legacy-pkg\n.\n", "legacy-pkg"),
    ],
)
def test_editable_hooks_are_refused(venv, out, filename, content, name):
    (site_packages(venv) / filename).write_text(content)
    with pytest.raises(UsageError, match=rf"editable installs \({name}\)"):
        pack_environment(out, prefix=venv)


def test_pth_paths_outside_the_environment_are_refused(venv, out, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (site_packages(venv) / "extra.pth").write_text(f"# comment\nimport os\n{tmp_path / 'elsewhere'}\n")
    with pytest.raises(UsageError, match=r"\.pth files adding folders outside it, which would not be packed: .*elsewhere \(in extra\.pth\)"):
        pack_environment(out, prefix=venv)
    # Paths inside the environment are fine.
    (site_packages(venv) / "extra.pth").write_text("tinypkg\n")
    assert pack_environment(out, prefix=venv).packages == 1


def test_prefix_that_is_not_a_virtualenv_is_refused(tmp_path, out, monkeypatch):
    plain = tmp_path / "plain"
    (plain / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    with pytest.raises(UsageError, match="is not a virtualenv .*-m venv"):
        pack_environment(out, prefix=plain)
    with pytest.raises(UsageError, match="is not a virtualenv"):
        pack_environment(out, prefix=sys.base_prefix)
    with pytest.raises(UsageError, match="does not exist"):
        pack_environment(out, prefix=tmp_path / "missing")

    # Default prefix: the running Python, which must be a virtualenv.
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    with pytest.raises(UsageError, match="not in a virtualenv"):
        pack_environment(out)


def test_expected_python(venv, out, caplog):
    with pytest.raises(UsageError, match="build the virtualenv from the system Python that exists on every node, e.g. /usr/bin/python3 -m venv") as info:
        pack_environment(out, prefix=venv, expected_python=["/nonexistent/bin/python3", "/also/not/python3.11"])
    assert base_python(venv) in str(info.value)
    assert not out.exists()

    linked = base_python(venv)
    assert pack_environment(out, prefix=venv, expected_python=linked).python == linked
    assert pack_environment(out, prefix=venv, expected_python=[os.path.dirname(linked)]).reused  # a folder nodes share
    assert pack_environment(out, prefix=venv, expected_python=[os.path.realpath(linked)]).reused

    caplog.set_level(logging.WARNING, logger="deploy.packing")
    pack_environment(out, prefix=venv)
    assert f"links to the interpreter {linked}: it must exist at that path on every node" in caplog.text


def test_bad_output_paths_are_refused(venv, tmp_path):
    with pytest.raises(UsageError, match="inside the environment being packed"):
        pack_environment(venv / "environment.tar.gz", prefix=venv)
    with pytest.raises(UsageError, match=r"must end in \.tar\.gz"):
        pack_environment(tmp_path / "environment.zip", prefix=venv)
    assert not (venv / "environment.tar.gz").exists()


def test_a_file_not_written_by_pack_env_is_only_overwritten_with_force(venv, out):
    out.parent.mkdir(parents=True)
    out.write_bytes(b"someone else's archive")
    with pytest.raises(UsageError, match=r"was not written by pack-env .*force overwriting it \(--force\)"):
        pack_environment(out, prefix=venv)
    assert out.read_bytes() == b"someone else's archive"
    assert not pack_environment(out, prefix=venv, force=True).reused
    assert tarfile.is_tarfile(out)


@pytest.mark.parametrize("error", [OSError("disk full"), venv_pack.VenvPackException("Cannot pack:\nreason")])
def test_no_temp_files_are_left_after_a_failure(venv, out, monkeypatch, error):
    first = pack_environment(out, prefix=venv)
    before = out.read_bytes()
    install(venv, "otherpkg")

    def failing_pack(prefix, output, **kwargs):
        with open(output, "wb") as fh:
            fh.write(b"partial")
        raise error

    monkeypatch.setattr(venv_pack, "pack", failing_pack)
    expected = UsageError if isinstance(error, venv_pack.VenvPackException) else OSError
    with pytest.raises(expected) as info:
        pack_environment(out, prefix=venv)
    if expected is UsageError:
        assert str(info.value) == f"venv-pack cannot pack {venv}: Cannot pack: reason"

    # The previous archive and its hash are untouched, and nothing else is there.
    assert sorted(p.name for p in out.parent.iterdir()) == ["environment.tar.gz", "environment.tar.gz.sha256"]
    assert out.read_bytes() == before
    assert json.loads(Path(f"{out}.sha256").read_text())["sha256"] == first.sha256

    # A first pack that fails leaves an empty folder.
    fresh = out.parent.parent / "fresh" / "environment.tar.gz"
    with pytest.raises(expected):
        pack_environment(fresh, prefix=venv)
    assert list(fresh.parent.iterdir()) == []


def test_a_virtualenv_from_the_system_python_passes_the_emr_check(tmp_path, venv):
    """The EMR set-up: ``/usr/bin/python3 -m venv``, checked against /usr/bin/python3."""
    system = "/usr/bin/python3"
    if not os.path.exists(system):
        pytest.skip("no /usr/bin/python3 here")
    made = subprocess.run([system, "-m", "venv", "--without-pip", str(tmp_path / "sysvenv")], capture_output=True)
    if made.returncode != 0:
        pytest.skip("the system Python has no venv module")
    result = pack_environment(tmp_path / "sys.tar.gz", prefix=tmp_path / "sysvenv", expected_python=[system])
    assert os.path.realpath(result.python) == os.path.realpath(system)
    with tarfile.open(result.path) as tar:
        assert all(m.issym() for m in tar.getmembers() if m.name.startswith("bin/python"))



def test_a_virtualenv_from_another_interpreter_fails_the_emr_check(tmp_path, venv):
    """Built from an interpreter the nodes lack (here a copy at a made-up path): refused, whatever Python runs the tests."""
    made_up = tmp_path / "opt" / "custom-python" / "bin" / "python3"
    made_up.parent.mkdir(parents=True)
    shutil.copy2(os.path.realpath(base_python(venv)), made_up)
    link = venv / "bin" / "python"
    link.unlink()
    link.symlink_to(made_up)
    assert base_python(venv) == str(made_up)
    with pytest.raises(UsageError, match=r"built from .*custom-python/bin/python3, which is not one of the expected interpreters"):
        pack_environment(tmp_path / "other.tar.gz", prefix=venv, expected_python=["/usr/bin/python3"])
    # Nothing written; with that interpreter expected the same virtualenv packs: the refusal was about it.
    assert not (tmp_path / "other.tar.gz").exists()
    result = pack_environment(tmp_path / "other.tar.gz", prefix=venv, expected_python=[str(made_up)])
    assert result.python == str(made_up)
