"""What the install tests share: fresh virtual environments, a wheelhouse that outlives the run,
an environment with nothing of the repository or the dev venv in it, Airflow's metadata database,
and a copy of the repository's tracked files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, require_git_checkout


def venv(path: Path, *, upgrade_pip: bool = True) -> Path:
    """A new virtual environment on the interpreter the tests run on; returns its python."""
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(path)], check=True, timeout=300)
    python = path / "bin" / "python"
    if upgrade_pip:
        pip_install(python, "--upgrade", "pip", cwd=path)
    return python


def pip_install(python: Path, *args: str, cwd: Path) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]


def wheelhouse(constraints: Path) -> Path:
    """A folder under the user cache (``$XDG_CACHE_HOME``, else ``~/.cache``) holding every
    distribution ``constraints`` pins, downloaded the first time only: pip's own cache keeps
    nothing from an index whose answers carry no caching headers, so a second run on the same
    machine installs from here without the network (``pip install --no-index --find-links``)."""
    import fcntl
    import hashlib

    house = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spor-airflow" / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    done = house / f".complete-{hashlib.sha256(constraints.read_bytes()).hexdigest()[:16]}"
    with open(house / ".lock", "w") as lock:  # another session on this machine may fill it too
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            # The pins are the whole tree: one file each, no resolving; the interpreter is the venvs'.
            got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                  "-d", str(house), "-r", str(constraints)], capture_output=True, text=True, timeout=1800)
            assert got.returncode == 0, got.stderr[-3000:]
            done.touch()
    return house


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without Airflow's, Python's, the package's or the venv's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "PYTHON", "SPOR_", "VIRTUAL_ENV")) and k != "PYTEST_XDIST_WORKER"}
    return {**env, **extra}


def repo_copy(dest: Path) -> Path:
    """The repository's tracked files only (what a clean clone holds)."""
    files = subprocess.run([require_git_checkout(), "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    return dest


def airflow_env(python: Path, home: Path, dags: Path, plugins: Path, extra: dict[str, str]) -> dict[str, str]:
    """Airflow in the venv of ``python``, with its own home (and SQLite metadata database) and folders."""
    return clean_env({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": f"{python.parent}:/usr/bin:/bin", **extra})


def migrate(python: Path, env: dict[str, str], cwd: Path, pools: Path) -> None:
    """Airflow's metadata database and the ``spor`` pool."""
    for args in (["db", "migrate"], ["pools", "import", str(pools)]):
        done = subprocess.run([str(python), "-m", "airflow", *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
