"""The demo folder as a place to work: ``.demo/env.sh`` (for a shell) and ``.demo/env.json`` (for
``scripts/ui.py`` and the tests) hold everything a new shell needs to use the demo's systems.

Both name the same variables: Airflow's home, folders and metadata database, the three
connections and the ``spor_units`` variable as ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` (as a site
configures its own), the login of the demo's Airflow UI, ``PATH`` with the project's virtual
environment first, and ``SPOR_DEMO`` / ``SPOR_DEMO_RUN_ID`` for the README's commands. The SPOR
connection points at the port ``make ui`` starts the stand-in on.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devenv import LocalEnv

STANDIN_PORT = 8443
API_PORT = 8080
LOGIN = ("admin", "admin")  # the demo's Airflow UI only: SimpleAuthManager, passwords in a file


def on_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def ui_settings(env: LocalEnv, *, api_port: int = API_PORT) -> dict[str, str]:
    """The API server's port, where tasks reach it, and a known login instead of a generated one."""
    passwords = env.airflow_home / "simple_auth_manager_passwords.json"
    return {
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOGIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }


def demo_environment(env: LocalEnv, *, run_id: str, standin_port: int = STANDIN_PORT,
                     api_port: int = API_PORT) -> dict[str, str]:
    """Every variable of env.sh except PATH (which prepends to the shell's own)."""
    if env.endpoint is None:
        raise RuntimeError("the stand-in's endpoint is not known")
    endpoint = on_port(env.endpoint, standin_port)
    saved = env.endpoint
    try:
        env.endpoint = endpoint
        connections = env.connections()
    finally:
        env.endpoint = saved
    return {"SPOR_DEMO": str(env.base), "SPOR_DEMO_RUN_ID": run_id, "SPOR_STANDIN_PORT": str(standin_port),
            **env.airflow_settings(), **env.lineage_settings(), **ui_settings(env, api_port=api_port), **connections}


def write_env_files(env: LocalEnv, variables: dict[str, str], *, venv_bin: Path | None = None) -> Path:
    """Write env.sh and env.json into the demo folder and the UI's password file; returns env.sh."""
    venv_bin = venv_bin or Path(sys.executable).parent
    passwords = Path(variables["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    passwords.parent.mkdir(parents=True, exist_ok=True)
    passwords.write_text(json.dumps({LOGIN[0]: LOGIN[1]}) + "\n")
    (env.base / "env.json").write_text(json.dumps({**variables, "SPOR_VENV_BIN": str(venv_bin)}, indent=1) + "\n")
    lines = ["# The demo's systems for this shell: source .demo/env.sh (written by make demo).",
             *(f"export {name}={shlex.quote(value)}" for name, value in variables.items()),
             f"export PATH={shlex.quote(str(venv_bin))}:\"$PATH\""]
    script = env.base / "env.sh"
    script.write_text("\n".join(lines) + "\n")
    return script
