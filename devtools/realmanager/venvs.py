"""Virtualenvs for Cloudify's services, built once and cached under a hash of what went in:
the requirements as installed, the Python version, and the source trees installed into them."""
from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools.realmanager.source import CloudifySource, tree_digest

# gunicorn 27 writes a control socket under the home directory; 23.0.0 serves as Cloudify's does
GUNICORN = "gunicorn==23.0.0"
COMMON = "cloudify-common{extras}==7.0.5"
# cloudify-common's requirement line points at a GitHub archive; PyPI has the same release
_COMMON_LINE = re.compile(r"^cloudify-common(\[[^\]]*\])?\s*@.*$", re.MULTILINE)
_AGENT_LINE = re.compile(r"^cloudify-agent(\[[^\]]*\])?\s*@.*$", re.MULTILINE)
# Kerberos needs the MIT headers and is used only for Windows agents (WinRM), never here
_KERBEROS = re.compile(r"^(pykerberos|python-gssapi|pyspnego|requests-ntlm)==.*$", re.MULTILINE)


class VenvError(Exception):
    """A virtualenv could not be built (pip's output is in the log named)."""


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name


def rest_requirements(src: CloudifySource) -> str:
    text = (src.rest_service / "requirements.txt").read_text()
    text = _COMMON_LINE.sub(lambda m: COMMON.format(extras=m.group(1) or ""), text)
    return text + f"\n{GUNICORN}\n"


def mgmtworker_requirements(src: CloudifySource) -> str:
    text = (src.mgmtworker / "requirements.txt").read_text()
    text = _COMMON_LINE.sub(lambda m: COMMON.format(extras=m.group(1) or ""), text)
    text = _AGENT_LINE.sub("", text)  # installed from the source tree, below
    text = _KERBEROS.sub("", text)
    text = text.replace("pywinrm[kerberos]", "pywinrm")
    return text


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """One builder at a time per cache directory (tests in other processes may start too)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _pip(venv: Path, args: list[str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ pip {' '.join(args)}\n".encode())
        out.flush()
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
                               *args], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise VenvError(f"pip {args[0]} failed in {venv} (see {log})")


def ensure_venv(cache_dir: Path, kind: str, requirements: str, trees: list[Path],
                log: Callable[[str], None], path_trees: tuple[Path, ...] = ()) -> tuple[Venv, float]:
    """The cached virtualenv `realmanager-<kind>-<hash>` holding `requirements` and `trees`
    (installed with --no-deps), built if missing; returns it and the seconds spent building.
    `path_trees` are copied into the virtualenv and put on its path by a .pth file instead: the
    cloudify-agent tree cannot be pip-installed as shipped (its setup.py lists the Windows
    installer packages, which the source archive leaves out)."""
    key = hashlib.sha256()
    key.update(sys.version.encode())
    key.update(requirements.encode())
    key.update(tree_digest(*trees, *path_trees).encode())
    path = cache_dir / f"realmanager-{kind}-{key.hexdigest()[:16]}"
    ready = path / ".snapbot-ready"
    with _locked(cache_dir / f".realmanager-{kind}.lock"):
        if ready.exists():
            return Venv(path), 0.0
        started = time.monotonic()
        log(f"building the {kind} virtualenv in {path} (once; cached after)")
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        req = path / "snapbot-requirements.txt"
        req.write_text(requirements)
        pip_log = path / "snapbot-pip.log"
        _pip(path, ["install", "-q", "-r", str(req)], pip_log)
        # from copies: building writes build/ and *.egg-info into a tree, which may be read-only
        # (and would change the tree's digest)
        with tempfile.TemporaryDirectory(prefix="realmanager-build-") as tmp:
            copies = [shutil.copytree(tree, Path(tmp) / tree.name) for tree in trees]
            if copies:
                _pip(path, ["install", "-q", "--no-deps", *map(str, copies)], pip_log)
        site = next((path / "lib").glob("python3*/site-packages"))
        for tree in path_trees:
            copy = shutil.copytree(tree, path / "src" / tree.name)
            (site / f"snapbot-{tree.name}.pth").write_text(f"{copy}\n")
        ready.write_text(f"{time.time()}\n")
        return Venv(path), time.monotonic() - started
