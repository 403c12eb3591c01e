"""Pack a virtualenv into an archive that YARN containers can unpack and run.

Workers on YARN get their Python environment as an archive (see
``forecasting pack-env`` and the ``yarn: environment:`` setting): YARN copies
it to every container and unpacks it there.  :func:`pack_environment` builds
that archive with `venv-pack <https://jcrist.github.io/venv-pack/>`_, and
reuses the previous one when the installed packages have not changed.

The interpreter caveat
----------------------
A venv-pack archive does **not** contain a Python interpreter.  Its
``bin/python`` is a symbolic link to the *base* interpreter the virtualenv
was created from (``/usr/bin/python3.11``, say), and the standard library is
read from that interpreter's installation.  That interpreter must therefore
exist, at the very same path and in the same version, on every node that
unpacks the archive.  A virtualenv created from a Python that exists only on
the machine that packs it (pyenv, conda, a Python built in a home folder)
gives an archive whose containers die at start-up with ``bin/python: No such
file or directory``.

On EMR, build the virtualenv from the system Python, which the AMI puts on
every node (``deploy/emr/bootstrap.sh`` does)::

    /usr/bin/python3 -m venv /opt/forecasting/venv

and pass ``expected_python=["/usr/bin/python3"]`` so that a virtualenv built
from any other interpreter is refused instead of failing on the cluster.

Other things refused before anything is packed
----------------------------------------------
* editable installs (``pip install -e``, ``setup.py develop``): their code
  stays in the source folder, outside the environment, so the archive would
  not contain it (venv-pack refuses them too, but misses the modern
  ``__editable__`` finders);
* a prefix that is not a virtualenv;
* an archive path inside the environment being packed.

Reuse
-----
Beside the archive, ``<out>.sha256`` (JSON) records a hash of the installed
distributions (name, version and the digest of each one's ``RECORD``, so a
rebuilt package with an unchanged version still counts as a change), of the
interpreter and of the prefix.  When the archive exists and the hash still
matches, nothing is packed.  Files changed by hand inside the environment,
outside any distribution's metadata, are not tracked: pass ``force=True``.

The archive is written to a temporary file beside ``out`` and renamed into
place, so a reader never sees half an archive.  venv-pack itself first builds
it in the system temporary folder (``TMPDIR``), which needs room for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

from forecasting.errors import UsageError
from forecasting.files import atomic_path, atomic_write

log = logging.getLogger(__name__)

#: Archive name endings accepted for ``out``; YARN unpacks both.
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")

#: Suffix of the JSON file, beside the archive, that records what it contains.
HASH_SUFFIX = ".sha256"

#: Version of the JSON written beside the archive; bump to invalidate old ones.
_STATE_FORMAT = 1


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_environment` produced (or found up to date).

    Attributes
    ----------
    path : str
        Absolute path of the archive.
    sha256 : str
        Hex SHA-256 of the environment's package list (the reuse key), not of
        the archive's bytes.
    reused : bool
        True when the existing archive was up to date and nothing was packed.
    size_bytes : int
        Size of the archive.
    python : str
        The base interpreter the archive's ``bin/python`` links to; it must
        exist at this path on every node.
    packages : int
        Number of installed distributions in the archive.
    """

    path: str
    sha256: str
    reused: bool
    size_bytes: int
    python: str
    packages: int


@dataclass(frozen=True)
class _Environment:
    prefix: str
    site_packages: str
    python: str
    python_version: str
    system_site_packages: bool


def pack_environment(
    out: str | os.PathLike,
    prefix: str | os.PathLike | None = None,
    force: bool = False,
    expected_python: str | Sequence[str] | None = None,
) -> PackResult:
    """Pack a virtualenv with venv-pack, or reuse the archive if up to date.

    Parameters
    ----------
    out : str or path-like
        Archive to write, ending in ``.tar.gz`` (or ``.tgz``).  Missing parent
        folders are created.  ``<out>.sha256`` is written beside it.
    prefix : str or path-like, optional
        The virtualenv to pack.  Default: the running one (``sys.prefix``),
        which must then be a virtualenv.
    force : bool
        Pack even when the archive is up to date, and overwrite a file at
        ``out`` that was not written by this function.
    expected_python : str or sequence of str, optional
        Interpreters (``/usr/bin/python3``) or folders (``/usr/bin``) that
        exist on every node.  The environment's base interpreter must be one
        of them, or lie under one of the folders; otherwise the environment
        is refused.  Default None: anything is accepted, with a warning
        naming the interpreter that nodes will need.

    Returns
    -------
    PackResult

    Raises
    ------
    UsageError
        ``prefix`` is not a virtualenv; it holds editable installs or
        ``.pth`` entries pointing outside it; its base interpreter is missing
        or not one of ``expected_python``; ``out`` lies inside it, has the
        wrong extension, or is an existing file not written by this function
        (without ``force``); or venv-pack refuses the environment.
    """
    env = _inspect_environment(prefix)
    out_path = _check_output(out, env.prefix)
    _check_python(env.python, expected_python)
    if env.system_site_packages:
        log.warning(
            "%s was created with --system-site-packages: packages from the system site-packages are not in the archive; nodes need them installed themselves",
            env.prefix,
        )

    dists = _distributions(env.site_packages)
    _check_no_editable(env, dists)
    packages = sorted(f"{name}=={version}" for name, version, _ in dists)
    digest = _package_hash(env, dists)

    state_path = out_path + HASH_SUFFIX
    state = _read_state(state_path)
    if not force and state is not None and os.path.isfile(out_path):
        size = os.path.getsize(out_path)
        if state.get("sha256") == digest and state.get("size_bytes") == size:
            log.info("%s is up to date (%d packages), not repacking", out_path, len(packages))
            return PackResult(out_path, digest, True, size, env.python, len(packages))
    if not force and state is None and os.path.lexists(out_path):
        raise UsageError(f"{out_path} exists and was not written by pack-env (no {os.path.basename(state_path)} beside it); remove it, choose another path or force overwriting it (--force)")

    log.info("packing %s (%d packages) into %s", env.prefix, len(packages), out_path)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    size = _pack_atomically(env.prefix, out_path, state_path)
    _write_json_atomically(
        state_path,
        {
            "format": _STATE_FORMAT,
            "sha256": digest,
            "size_bytes": size,
            "prefix": env.prefix,
            "python": env.python,
            "python_version": env.python_version,
            "packages": packages,
            "packed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return PackResult(out_path, digest, False, size, env.python, len(packages))


# -- the environment -----------------------------------------------------------


def _read_pyvenv_cfg(path: str) -> dict[str, str]:
    cfg = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.partition("=")
            if sep:
                cfg[key.strip().lower()] = value.strip()
    return cfg


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _inspect_environment(prefix: str | os.PathLike | None) -> _Environment:
    if prefix is None:
        if sys.prefix == sys.base_prefix:
            raise UsageError(
                f"the running Python ({sys.executable}) is not in a virtualenv; create one with /usr/bin/python3 -m venv ..., install the package there and pack from it (or give the virtualenv's path)"
            )
        prefix = sys.prefix
    given = os.fspath(prefix)
    root = os.path.realpath(given)
    cfg_path = os.path.join(root, "pyvenv.cfg")
    if not os.path.isdir(root):
        raise UsageError(f"{given} does not exist or is not a folder; give the path of a virtualenv")
    if not os.path.isfile(cfg_path):
        raise UsageError(f"{given} is not a virtualenv (no pyvenv.cfg); create one with /usr/bin/python3 -m venv {given} and install the package there")
    cfg = _read_pyvenv_cfg(cfg_path)

    libs = sorted(Path(root, "lib").glob("python*/site-packages"))
    if len(libs) != 1:
        found = ", ".join(str(p) for p in libs) or "none"
        raise UsageError(f"{given}: expected exactly one lib/pythonX.Y/site-packages folder, found {found}; recreate the virtualenv")
    site_packages = str(libs[0])

    python = _base_interpreter(root, cfg)
    if not os.path.exists(python):
        raise UsageError(f"{given}: its base interpreter {python} does not exist any more; recreate the virtualenv from an interpreter that exists on every node")
    version = cfg.get("version") or cfg.get("version_info") or libs[0].parent.name[len("python") :]
    version = ".".join(version.split(".")[:3])
    system = cfg.get("include-system-site-packages", "false").lower() == "true"
    return _Environment(root, site_packages, python, version, system)


def _base_interpreter(root: str, cfg: dict[str, str]) -> str:
    """The interpreter path the packed ``bin/python`` will point to.

    Follows ``bin/python``'s chain of links while it stays inside the
    environment; the first target outside it is what venv-pack stores in the
    archive.  Environments made with ``--copies`` have no link: then the
    interpreter whose installation (``home``) provides the standard library.
    """
    bindir = os.path.join(root, "bin")
    for name in ("python", "python3"):
        path = os.path.join(bindir, name)
        seen = set()
        while os.path.islink(path) and path not in seen:
            seen.add(path)
            target = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
            if not _inside(target, root):
                return target
            path = target
    for key in ("executable", "base-executable"):
        if cfg.get(key):
            return os.path.normpath(cfg[key])
    home = cfg.get("home")
    if home:
        return os.path.join(os.path.normpath(home), "python3")
    raise UsageError(f"{root}: cannot tell which interpreter it was created from (no bin/python link, no home in pyvenv.cfg); recreate the virtualenv")


def _check_python(python: str, expected: str | Sequence[str] | None) -> None:
    if expected is None:
        log.warning(
            "the archive links to the interpreter %s: it must exist at that path on every node (set expected_python to check it)",
            python,
        )
        return
    allowed = [expected] if isinstance(expected, (str, os.PathLike)) else list(expected)
    if not allowed:
        raise UsageError("expected_python is empty; list the interpreters (e.g. /usr/bin/python3) that exist on every node")
    names = {python, os.path.realpath(python)}
    for entry in allowed:
        entry = os.path.normpath(os.fspath(entry))
        if entry in names or os.path.realpath(entry) in names:
            return
        if os.path.isdir(entry) and any(_inside(n, entry) for n in names):
            return
    raise UsageError(
        f"the virtualenv was built from {python}, which is not one of the expected interpreters ({', '.join(map(os.fspath, allowed))}) and may not exist on the nodes; build the virtualenv from the system Python that exists on every node, e.g. /usr/bin/python3 -m venv ..."
    )


def _check_output(out: str | os.PathLike, root: str) -> str:
    path = os.path.abspath(os.fspath(out))
    if not path.endswith(ARCHIVE_SUFFIXES):
        raise UsageError(f"{path}: the archive must end in .tar.gz")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a folder; give the path of the .tar.gz file to write")
    parent = os.path.dirname(path)
    real = os.path.join(os.path.realpath(parent), os.path.basename(path))
    if _inside(real, root):
        raise UsageError(f"{path} is inside the environment being packed ({root}); write the archive outside it")
    return path


# -- installed distributions ---------------------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _distributions(site_packages: str) -> list[tuple[str, str, metadata.Distribution]]:
    """(name, version, distribution) of every distribution in ``site_packages``."""
    found = {}
    for dist in metadata.distributions(path=[site_packages]):
        try:
            name = dist.metadata["Name"]
        except Exception:  # no METADATA at all; importlib raises on some versions
            name = None
        if not name:
            continue  # a broken metadata folder: pip ignores it too
        key = _canonical(name)
        if key not in found:  # first on the path wins, as for imports
            found[key] = (name, dist.version or "", dist)
    return sorted(found.values(), key=lambda item: _canonical(item[0]))


def _package_hash(env: _Environment, dists: Iterable[tuple[str, str, metadata.Distribution]]) -> str:
    entries = []
    for name, version, dist in dists:
        record = dist.read_text("RECORD") or dist.read_text("installed-files.txt") or ""
        entries.append([name, version, hashlib.sha256(record.encode()).hexdigest()])
    payload = {"prefix": env.prefix, "python": env.python, "python_version": env.python_version, "packages": entries}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _check_no_editable(env: _Environment, dists: Iterable[tuple[str, str, metadata.Distribution]]) -> None:
    editable = {}
    for name, _, dist in dists:
        text = dist.read_text("direct_url.json")
        if not text:
            continue
        try:
            info = json.loads(text)
        except ValueError:
            continue
        if isinstance(info, dict) and isinstance(info.get("dir_info"), dict) and info["dir_info"].get("editable"):
            editable.setdefault(_canonical(name), name)

    outside = []
    for entry in sorted(os.listdir(env.site_packages)):
        path = os.path.join(env.site_packages, entry)
        if entry.endswith(".egg-link"):  # setup.py develop, old pip install -e
            name = entry[: -len(".egg-link")]
            editable.setdefault(_canonical(name), name)
        elif entry.startswith("__editable__.") and entry.endswith(".pth"):  # PEP 660 finder/path hooks
            name = entry[len("__editable__.") : -len(".pth")].rsplit("-", 1)[0]
            editable.setdefault(_canonical(name), name)
        elif entry.endswith(".pth"):
            outside.extend(f"{p} (in {entry})" for p in _pth_paths_outside(path, env.prefix))

    if editable:
        names = ", ".join(sorted(editable.values(), key=str.lower))
        raise UsageError(
            f"{env.prefix} has editable installs ({names}) whose code lives outside it and would not be packed; reinstall without -e: pip install . (in the project folder) or pip install <package>"
        )
    if outside:
        raise UsageError(f"{env.prefix} has .pth files adding folders outside it, which would not be packed: {', '.join(outside)}; install those packages into the virtualenv instead")


def _pth_paths_outside(pth: str, root: str) -> list[str]:
    found = []
    try:
        with open(pth, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return found
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "import ", "import\t")):
            continue
        target = os.path.realpath(os.path.join(os.path.dirname(pth), line))
        if not _inside(target, root):
            found.append(line)
    return found


# -- writing -------------------------------------------------------------------


def _read_state(path: str) -> dict | None:
    """The JSON beside the archive; {} when unreadable, None when missing."""
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        return {}
    return state


def _pack_atomically(prefix: str, out_path: str, state_path: str) -> int:
    import venv_pack

    with atomic_path(out_path) as tmp:
        try:
            venv_pack.pack(prefix=prefix, output=str(tmp), format="tar.gz", force=True)
        except venv_pack.VenvPackException as exc:
            reason = " ".join(str(exc).split())
            raise UsageError(f"venv-pack cannot pack {prefix}: {reason}") from exc
        os.chmod(tmp, 0o644)  # other users run the job too, whatever venv-pack's temporary file had
        size = os.path.getsize(tmp)
        # Forget the old hash first (the archive replaces the old one as the
        # block ends): a crash between the two leaves an archive with no hash,
        # which is repacked next time, never one with the wrong hash.
        try:
            os.remove(state_path)
        except FileNotFoundError:
            pass
    return size


def _write_json_atomically(path: str, data: dict) -> None:
    with atomic_write(path, encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
