"""Security properties checked on the source: archives and unpickling.

* Every archive the project unpacks itself goes through tarfile's ``data``
  filter.  Today the service unpacks nothing (YARN's NodeManagers unpack the
  venv-pack archive), so the check is a guard: an extraction added to
  ``forecasting/``, ``deploy/`` or ``bench/`` without ``filter="data"`` fails
  here.  The data filter itself is checked against malicious archives below.
* Nothing the service runs unpickles data read from files or from outside
  the cluster: no ``pickle``/``joblib``/``pandas.read_pickle``/``numpy``
  ``allow_pickle``/``yaml.load``/``eval`` in the service's code; YAML is read
  with ``yaml.safe_load``.  Dask's own messages are pickles, which is why its
  schedulers listen on loopback (local) or require TLS with per-application
  certificates (YARN, ``tls: true``): see RELIABILITY.md.
"""

from __future__ import annotations

import ast
import io
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What runs in production (the driver and the containers) ...
SERVICE = [p for d in ("forecasting", "deploy") for p in sorted((ROOT / d).rglob("*.py"))]
#: ... and everything of ours that might unpack an archive (the benchmarks too).
OURS = SERVICE + sorted((ROOT / "bench").rglob("*.py"))
EXTRACTORS = {"extractall", "extract", "unpack_archive", "extractfile_all"}


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            yield node, name, owner


def _filter_is_data(call: ast.Call) -> bool:
    for kw in call.keywords:
        if kw.arg == "filter":
            return isinstance(kw.value, ast.Constant) and kw.value.value == "data" or (
                isinstance(kw.value, ast.Attribute) and kw.value.attr == "data_filter"
            )
    return False


def test_the_service_code_is_scanned():
    names = {p.relative_to(ROOT).as_posix() for p in SERVICE}
    assert {"forecasting/cli/main.py", "deploy/packing.py", "deploy/yarn/container.py"} <= names


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_extraction_uses_the_data_filter(path):
    bad = [
        f"{path.relative_to(ROOT)}:{call.lineno}: {name}() without filter='data'"
        for call, name, _ in _calls(path)
        if name in EXTRACTORS and not _filter_is_data(call)
    ]
    assert not bad, bad


# What unpickles (or runs) data: module.function pairs and bare names.
UNSAFE = {
    ("pickle", "load"), ("pickle", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("joblib", "load"),
    ("pd", "read_pickle"), ("pandas", "read_pickle"), ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
    ("marshal", "loads"), ("shelve", "open"), ("dill", "loads"), ("dill", "load"),
}


@pytest.mark.parametrize("path", SERVICE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_service_never_unpickles_or_evals_data(path):
    bad = []
    for call, name, owner in _calls(path):
        if (owner, name) in UNSAFE or (not owner and name in {"eval", "exec"}):
            bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: {owner + '.' if owner else ''}{name}()")
        if name == "load" and owner in {"np", "numpy"} and any(
            kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False) for kw in call.keywords
        ):
            bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: numpy.load(allow_pickle=...)")
    text = path.read_text(encoding="utf-8")
    if "PickleType" in text:
        bad.append(f"{path.relative_to(ROOT)}: SQLAlchemy PickleType column")
    assert not bad, bad


# --------------------------------------------------------------------------- unpacking archives (tarfile's "data" filter)

def _tar(tmp_path: Path, members) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = b"pwned\n"
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = target
                tf.addfile(info)
    return path


@pytest.mark.parametrize(
    "members, error",
    [
        # The data filter strips the leading "/": the member lands inside the destination (checked below).
        ([("/tmp/forecasting-evil-absolute", "file", None)], None),
        ([("../escaped.txt", "file", None)], tarfile.OutsideDestinationError),
        ([("ok/../../escaped.txt", "file", None)], tarfile.OutsideDestinationError),
        # A symlink pointing outside, then a file written through it.
        ([("link", "symlink", "/tmp"), ("link/forecasting-evil-through-link", "file", None)],
         (tarfile.AbsoluteLinkError, tarfile.OutsideDestinationError)),
        ([("hard", "hardlink", "/etc/passwd")], tarfile.AbsoluteLinkError),
    ],
    ids=["absolute-path", "dot-dot", "nested-dot-dot", "write-through-outside-symlink", "absolute-hardlink"],
)
def test_malicious_archives_are_refused(tmp_path, members, error):
    archive = _tar(tmp_path, members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with tarfile.open(archive) as tf:
        if error is None:
            tf.extractall(dest, filter="data")
            assert (dest / "tmp/forecasting-evil-absolute").is_file()
        else:
            with pytest.raises(error):
                tf.extractall(dest, filter="data")
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/forecasting-evil-absolute").exists()
    assert not Path("/tmp/forecasting-evil-through-link").exists()


def test_a_plain_archive_still_unpacks_with_the_data_filter(tmp_path):
    archive = _tar(tmp_path, [("environment/bin/activate", "file", None), ("environment/lib/x", "symlink", "../bin/activate")])
    with tarfile.open(archive) as tf:
        tf.extractall(tmp_path / "dest", filter="data")
    assert (tmp_path / "dest/environment/lib/x").read_text() == "pwned\n"
