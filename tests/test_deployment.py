"""docker-compose.yml, Dockerfile, .env.example and docs/operations.md agree with each other and
with the repository. No Docker engine runs here, so this checks what can be checked without one:
the files parse, variables resolve, mounts exist, ports stay on 127.0.0.1, the image installs the
pinned requirements, and the report-DB migration the init service runs really works.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
OPERATIONS = ROOT / "docs" / "operations.md"
CORE_SERVICES = {"airflow-metadata-db", "report-db", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "mailpit"}
CELERY_SERVICES = {"redis", "airflow-worker", "flower"}
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker", "flower"}  # the ones running the project image

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a literal $.
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def operator_env() -> dict[str, str]:
    """.env as an operator makes it: .env.example with the Fernet key and patient-key secret generated."""
    import secrets

    from cryptography.fernet import Fernet

    return env_example() | {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
                            "AUDIT_PATIENT_KEY_SECRET": secrets.token_hex(32)}


def variables(text: str) -> list[tuple[str, str | None, str]]:
    """(name, operator or None, argument) of every interpolation in ``text``."""
    out = []
    for m in _VAR.finditer(text):
        if m.group(0) == "$$":
            continue
        out.append((m.group(1) or m.group(4), m.group(2), m.group(3) or ""))
    return out


def interpolate(text: str, env: dict[str, str]) -> str:
    """What docker compose substitutes, for the forms above."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if (value if op == ":-" else value is not None) else arg
        if op in (":?", "?") and not (value if op == ":?" else value is not None):
            raise KeyError(f"{name}: {arg}")
        return value or ""
    return _VAR.sub(sub, text)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def rendered() -> dict:
    """The compose file as docker compose would see it with .env made from .env.example."""
    return yaml.safe_load(interpolate(COMPOSE.read_text(), operator_env()))


def test_compose_parses_and_has_every_service(compose):
    services = compose["services"]
    assert CORE_SERVICES | CELERY_SERVICES == set(services)
    for name in CELERY_SERVICES:
        assert services[name].get("profiles") == ["celery"], name
    for name in CORE_SERVICES:
        assert "profiles" not in services[name], name


def test_every_service_the_operations_page_names_exists_and_each_is_documented(compose):
    text = OPERATIONS.read_text()
    table = set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M))
    assert table == set(compose["services"])
    mentioned = {m for m in re.findall(r"`([a-z]+(?:-[a-z0-9]+)+)`", text) if m.startswith(("airflow-", "report-"))}
    assert mentioned <= set(compose["services"]), mentioned - set(compose["services"])


def test_every_variable_has_a_default_or_is_in_env_example():
    example = env_example()
    for name, op, _ in variables(COMPOSE.read_text()):
        assert op in (":-", "-") or name in example, f"${{{name}}} has no default and is not in .env.example"


def test_env_example_holds_no_unused_settings():
    used = {name for name, _, _ in variables(COMPOSE.read_text())}
    assert set(env_example()) - used == set()


def test_secrets_have_no_default_and_compose_refuses_to_start_without_them():
    required = {name for name, op, _ in variables(COMPOSE.read_text()) if op == ":?"}
    assert {"AIRFLOW_DB_PASSWORD", "REPORT_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
            "AIRFLOW_API_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD", "AUDIT_PATIENT_KEY_SECRET"} <= required
    env = env_example()
    env["AIRFLOW_FERNET_KEY"] = ""  # as committed: the operator must generate one
    with pytest.raises(KeyError, match="AIRFLOW_FERNET_KEY"):
        interpolate(COMPOSE.read_text(), env)


def test_mounted_paths_exist_in_the_repository(rendered):
    named = set(rendered["volumes"])
    mounts = set()
    for name, service in rendered["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                mounts.add((source, target))
            else:
                assert source in named, (name, volume)
    code = {s for s, t in mounts if not s.startswith("./var")}
    assert code == {"./dags", "./plugins", "./include", "./expectations"}
    for source in code:
        assert (ROOT / source).is_dir(), source
    # the inbox is the operator's folder (default under var/, which git ignores)
    assert ("./var/inbox", "/data/inbox") in mounts


def test_airflow_services_mount_the_project_and_read_the_audit_settings(rendered):
    settings_src = (ROOT / "include" / "claimaudit" / "settings.py").read_text()
    read = set(re.findall(r'env\.get\("(AUDIT_[A-Z_]+)"', settings_src)) - {"AUDIT_EXPECTATIONS_DIR"}
    assert {"AUDIT_INBOX", "AUDIT_DB_URL", "AUDIT_EMAIL_TO", "AUDIT_EMAIL_FROM", "AUDIT_TIMEZONE", "AUDIT_VAR_DIR",
            "AUDIT_AIRFLOW_BASE_URL", "AUDIT_SEND_ALL_CLEAR"} <= read
    for name, service in rendered["services"].items():
        if name not in AIRFLOW_SERVICES:
            assert "environment" not in service or "AUDIT_DB_URL" not in service["environment"], name
            continue
        assert service["image"] == "claimaudit-airflow:3.3.2" and service["build"]["dockerfile"] == "Dockerfile"
        env = service["environment"]
        assert read <= set(env), (name, read - set(env))
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert env["AUDIT_DB_URL"].startswith("postgresql+psycopg://") and "@report-db:" in env["AUDIT_DB_URL"]
        assert "@airflow-metadata-db:" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        targets = {v.split(":")[1] for v in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include", "/opt/airflow/expectations",
                env["AUDIT_INBOX"], env["AUDIT_VAR_DIR"]} <= targets


def test_the_two_databases_are_kept_apart(rendered):
    services = rendered["services"]
    meta, report = services["airflow-metadata-db"], services["report-db"]
    assert meta["volumes"] != report["volumes"]
    assert meta["environment"]["POSTGRES_USER"] != report["environment"]["POSTGRES_USER"]
    assert meta["environment"]["POSTGRES_PASSWORD"] != report["environment"]["POSTGRES_PASSWORD"]


def test_smtp_connection_is_json_pointing_at_mailpit_without_tls(rendered):
    conn = json.loads(rendered["services"]["airflow-scheduler"]["environment"]["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert conn["conn_type"] == "smtp" and conn["host"] == "mailpit" and conn["port"] == 1025
    assert conn["extra"]["disable_ssl"] is True and conn["extra"]["disable_tls"] is True
    assert "mailpit" in rendered["services"]


def test_smtp_connection_for_a_real_relay():
    env = operator_env() | {"SMTP_HOST": "smtp.example.org", "SMTP_PORT": "587", "SMTP_USER": "audit",
                           "SMTP_PASSWORD": "s3cret-._~", "SMTP_DISABLE_TLS": "false"}
    rendered = yaml.safe_load(interpolate(COMPOSE.read_text(), env))
    conn = json.loads(rendered["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert (conn["host"], conn["port"], conn["login"], conn["password"]) == ("smtp.example.org", 587, "audit",
                                                                               "s3cret-._~")
    assert conn["extra"]["disable_tls"] is False and conn["extra"]["disable_ssl"] is True


def test_ports_are_bound_to_localhost(rendered):
    published = [(name, p) for name, s in rendered["services"].items() for p in s.get("ports", [])]
    assert {name for name, _ in published} >= {"airflow-apiserver", "mailpit", "report-db"}
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)


def test_long_running_services_have_health_checks_and_wait_for_init(rendered):
    for name, service in rendered["services"].items():
        if name == "airflow-init":
            assert service["restart"] == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), name
        if name in AIRFLOW_SERVICES - {"airflow-worker"}:
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
        if name in AIRFLOW_SERVICES:
            for db in ("airflow-metadata-db", "report-db"):
                assert service["depends_on"][db]["condition"] == "service_healthy", (name, db)


def test_init_migrates_both_databases(rendered):
    script = "\n".join(rendered["services"]["airflow-init"]["command"])
    assert "airflow db migrate" in script and "claimaudit migrate" in script
    assert script.index("airflow db migrate") < script.index("claimaudit migrate")


def test_claimaudit_migrate_creates_the_report_tables(db_url, monkeypatch, capsys):
    """What airflow-init runs against report-db, here against a real SQLite and PostgreSQL."""
    import sqlalchemy as sa

    from claimaudit.cli import main

    monkeypatch.setenv("AUDIT_DB_URL", db_url)
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0  # idempotent: every `docker compose up` runs it again
    engine = sa.create_engine(db_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"audit_finding", "audit_run", "claim", "service_line", "rejection"} <= tables


def test_celery_profile_scales_out(rendered):
    services = rendered["services"]
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert services["airflow-worker"]["command"] == "celery worker"
    assert int(services["airflow-worker"]["deploy"]["replicas"]) >= 2
    assert services["airflow-worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    celery = operator_env() | {"AIRFLOW_EXECUTOR": "CeleryExecutor"}
    as_celery = yaml.safe_load(interpolate(COMPOSE.read_text(), celery))
    for name in ("airflow-scheduler", "airflow-worker", "airflow-apiserver"):
        assert as_celery["services"][name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_dockerfile_builds_from_airflow_and_installs_the_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    airflow = pins["apache-airflow"]
    assert re.search(rf"^FROM apache/airflow:{re.escape(airflow)}-python3\.11\s*$", dockerfile, re.M)
    assert re.search(r"^COPY .*\brequirements\.txt constraints\.txt ", dockerfile, re.M)
    install = re.search(r"^RUN pip install .*-r (\S*requirements\.txt) -c (\S*constraints\.txt)", dockerfile, re.M)
    assert install, "the image must install requirements.txt with constraints.txt at build time"
    constraints = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / "constraints.txt").read_text(), re.M))
    for name, version in pins.items():  # the two files agree, so the build resolves as it does here
        base = name.split("[")[0]
        assert constraints.get(base, version) == version, (name, version, constraints.get(base))
    for folder in ("include", "dags", "plugins", "expectations"):
        assert re.search(rf"^COPY .*\b{folder}/ /opt/airflow/{folder}/", dockerfile, re.M), folder
    # nothing is pip-installed when a container starts
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE.read_text()
