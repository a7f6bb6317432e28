"""Start a real local Airflow (api-server, scheduler, dag-processor; LocalExecutor) for
integration tests, on 127.0.0.1 and a free port, in its own AIRFLOW_HOME."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from support.network import free_port

ROOT = Path(__file__).resolve().parents[2]  # the project root (tests/support/ is two levels down)


def airflow_env(home: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "integration-test-secret-not-for-production",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT / "include"),
    })
    env.update(extra)
    return env


def airflow(env: dict[str, str], *args: str, timeout: int = 120) -> str:
    out = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n"
                           f"{out.stderr[-4000:]}")
    return out.stdout


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def running_airflow(home: Path, extra_env: dict[str, str]):
    """Yield the environment of a running local Airflow; stop every process afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = airflow_env(home, port, extra_env)
    airflow(env, "db", "migrate", timeout=300)
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        for name, args in (("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port)]),
                           ("dag-processor", ["dag-processor"]),
                           ("scheduler", ["scheduler"])):
            log = open(home / f"{name}.log", "wb")
            logs.append(log)
            procs.append(subprocess.Popen([sys.executable, "-m", "airflow", *args], env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
        wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 180)
        yield env
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for log in logs:
            log.close()


def json_out(text: str):
    """The JSON document in a CLI's stdout (Airflow prints warnings to stdout before it)."""
    for line in reversed(text.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    return []


def wait_dag_registered(env: dict[str, str], dag_id: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = airflow(env, "dags", "list", "-o", "json")
        if any(d.get("dag_id") == dag_id for d in json_out(out)):
            return
        time.sleep(2)
    raise TimeoutError(f"{dag_id} was not registered by the dag-processor within {timeout} s")


def dag_runs(env: dict[str, str], dag_id: str) -> list[dict]:
    out = airflow(env, "dags", "list-runs", dag_id, "-o", "json")
    return json_out(out)


def processes_using(home: Path) -> list[str]:
    """Command lines of live processes whose environment has AIRFLOW_HOME=<home>."""
    marker = f"AIRFLOW_HOME={home}\0".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(f"{pid} " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
