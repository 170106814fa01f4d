"""docker-compose.yaml agrees with the Docker-less stack (scripts/env.sh) and the locks.

Docker does not run everywhere, so this reads the file as data; compose's ``${VAR:-default}``
interpolation is resolved to its defaults, as on a machine whose shell sets none of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_SH = ROOT / "scripts" / "env.sh"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
SERVICES = {"postgres", "opensearch", "moto", "search-api"} | AIRFLOW_SERVICES
ONE_SHOT = {"airflow-init"}
LONG_RUNNING = sorted(SERVICES - ONE_SHOT)
AIRFLOW_LONG_RUNNING = sorted(AIRFLOW_SERVICES - ONE_SHOT)

HEALTH_PROBES = {
    "postgres": "pg_isready",
    "opensearch": "_cluster/health",
    "moto": "http://localhost:5000/moto-api/",
    "airflow-apiserver": "http://localhost:8080/api/v2/version",
    "airflow-scheduler": "jobs check --job-type SchedulerJob --local",
    "airflow-dag-processor": "jobs check --job-type DagProcessorJob --local",
    "airflow-triggerer": "jobs check --job-type TriggererJob --local",
    "search-api": "http://127.0.0.1:8000/openapi.json",
}

_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR}`` with an empty environment."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def env_sh_default(name: str) -> str:
    """The default of ``export NAME="${NAME:-default}"`` in scripts/env.sh."""
    pattern = rf'^export {re.escape(name)}="\$\{{{re.escape(name)}:-(.*)\}}"\s*(?:#.*)?$'
    match = re.search(pattern, ENV_SH.read_text(), re.MULTILINE)
    assert match, f"scripts/env.sh has no defaulted export of {name}"
    return match.group(1)


def pin(requirements: str, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}(?:\[[^\]]*\])?==([^\s;#]+)", (ROOT / requirements).read_text(), re.MULTILINE)
    assert match, f"{requirements} does not pin {package}"
    return match.group(1)


def image_tag(service: str) -> str:
    image = interpolate(SERVICE_DEFS[service]["image"])
    assert ":" in image.rsplit("/", 1)[-1], f"{service}: image {image!r} has no tag"
    return image.rsplit(":", 1)[1]


def environment(service: str) -> dict[str, str]:
    env = SERVICE_DEFS[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def command_text(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())  # resolves the x-* anchors and merge keys
SERVICE_DEFS: dict[str, dict] = COMPOSE["services"]


def test_services_are_the_stack():
    assert set(SERVICE_DEFS) == SERVICES


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_a_healthcheck(service):
    check = SERVICE_DEFS[service].get("healthcheck")
    assert check and not check.get("disable"), f"{service} has no healthcheck"
    test = command_text(check["test"])
    assert test.split()[0] in {"CMD", "CMD-SHELL"} and "NONE" not in test
    assert HEALTH_PROBES[service] in test


def test_init_migrates_once_and_is_not_restarted():
    init = SERVICE_DEFS["airflow-init"]
    assert "airflow db migrate" in command_text(init.get("command"))
    assert str(init.get("restart", "no")) == "no"
    assert "healthcheck" not in init


@pytest.mark.parametrize(
    "service, port_var, container_port",
    [
        ("opensearch", "OPENSEARCH_PORT", 9200),
        ("moto", "MOTO_PORT", 5000),
        ("airflow-apiserver", "AIRFLOW_PORT", 8080),
        ("search-api", "API_PORT", 8000),
    ],
)
def test_published_ports_match_env_sh(service, port_var, container_port):
    ports = [interpolate(str(p)) for p in SERVICE_DEFS[service].get("ports", [])]
    assert ports == [f"127.0.0.1:{env_sh_default(port_var)}:{container_port}"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ports_bind_to_localhost_only(service):
    for port in SERVICE_DEFS[service].get("ports", []):
        if isinstance(port, dict):  # long syntax
            assert port.get("host_ip") == "127.0.0.1", f"{service}: {port}"
        else:
            assert interpolate(str(port)).startswith("127.0.0.1:"), f"{service}: {port}"


def container_ports(service: str) -> set[int]:
    ports = {int(interpolate(str(p)).rsplit(":", 1)[1].split("/")[0]) for p in SERVICE_DEFS[service].get("ports", [])}
    return ports | {int(p) for p in SERVICE_DEFS[service].get("expose", [])}


@pytest.mark.parametrize(
    "variable, conn_type, service",
    [
        ("AIRFLOW_CONN_AWS_DEFAULT", "aws", "moto"),
        ("AIRFLOW_CONN_OPENSEARCH_DEFAULT", "opensearch", "opensearch"),
    ],
)
@pytest.mark.parametrize("airflow_service", sorted(AIRFLOW_SERVICES))
def test_connections_point_at_the_services(airflow_service, variable, conn_type, service):
    conn = json.loads(environment(airflow_service)[variable])
    assert conn["conn_type"] == conn_type
    if conn_type == "aws":
        endpoint = urlsplit(conn["extra"]["endpoint_url"])
        host, port = endpoint.hostname, endpoint.port
        assert conn["extra"]["region_name"] == env_sh_default("AWS_DEFAULT_REGION")
    else:
        host, port = conn["host"], int(conn["port"])
        assert conn.get("schema") == "http" and conn["extra"]["use_ssl"] is False
    assert host == service and host in SERVICE_DEFS
    assert port in container_ports(service)


def test_opensearch_image_matches_env_sh():
    assert image_tag("opensearch") == env_sh_default("OPENSEARCH_VERSION")
    assert SERVICE_DEFS["opensearch"]["image"].startswith("opensearchproject/opensearch:")


def test_opensearch_is_a_small_insecure_single_node():
    env = environment("opensearch")
    assert env["discovery.type"] == "single-node"
    assert env["DISABLE_SECURITY_PLUGIN"] == "true"
    assert env["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    heap = re.findall(r"-Xm[sx](\d+)([mg])", env["OPENSEARCH_JAVA_OPTS"])
    assert len(heap) == 2
    assert all(int(size) * (1024 if unit == "g" else 1) <= 1024 for size, unit in heap)


def test_airflow_image_matches_the_lock():
    tag = image_tag("airflow-apiserver")
    version, _, python = tag.partition("-python")
    assert version == pin("requirements.txt", "apache-airflow")
    requires = re.search(r'^requires-python\s*=\s*">=(\d+\.\d+)', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert python == requires.group(1)
    images = {SERVICE_DEFS[s]["image"] for s in AIRFLOW_SERVICES}
    assert images == {f"catalog-search-airflow:{tag}"}
    build = SERVICE_DEFS["airflow-apiserver"]["build"]
    assert build["args"]["AIRFLOW_IMAGE"] == f"apache/airflow:{tag}"
    dockerfile = (ROOT / build["dockerfile"]).read_text()
    assert "requirements.txt" in dockerfile and "requirements-trainer.txt" in dockerfile


def test_moto_is_the_dev_lock_served_as_the_local_stack_serves_it():
    build = SERVICE_DEFS["moto"]["build"]
    assert build["args"]["MOTO_IMAGE"] == f"motoserver/moto:{pin('requirements-dev.txt', 'moto')}"
    assert build["args"]["GUNICORN_VERSION"] == pin("requirements-dev.txt", "gunicorn")
    assert image_tag("moto") == pin("requirements-dev.txt", "moto")
    config = "scripts/moto_gunicorn.conf.py"
    assert config in (ROOT / build["dockerfile"]).read_text()
    assert config in (ROOT / "scripts" / "services.sh").read_text()
    settings: dict = {"__file__": str(ROOT / config)}
    exec((ROOT / config).read_text(), settings)
    # moto's state lives in its one process: a second worker, or a restarted one, would not have it.
    assert (settings["workers"], settings["timeout"], settings.get("max_requests", 0)) == (1, 0, 0)


def test_postgres_is_16():
    assert image_tag("postgres").split(".")[0].split("-")[0] == "16"


@pytest.mark.parametrize("service", AIRFLOW_LONG_RUNNING)
def test_airflow_services_wait_for_init_and_postgres(service):
    depends = SERVICE_DEFS[service].get("depends_on")
    assert isinstance(depends, dict), f"{service}: depends_on needs conditions"
    assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
    for name, spec in depends.items():
        assert name in SERVICE_DEFS
        if name not in ONE_SHOT:
            assert spec["condition"] == "service_healthy", f"{service} -> {name}"


def test_init_waits_for_postgres():
    assert SERVICE_DEFS["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def catalog_search_vars_in_env_sh() -> list[str]:
    names = re.findall(r"^export (CATALOG_SEARCH_\w+)=", ENV_SH.read_text(), re.MULTILINE)
    assert names, "scripts/env.sh sets no CATALOG_SEARCH_* variables"
    return sorted(set(names))


@pytest.mark.parametrize("airflow_service", sorted(AIRFLOW_SERVICES))
def test_airflow_environment(airflow_service):
    env = environment(airflow_service)
    missing = set(catalog_search_vars_in_env_sh()) - set(env)
    assert not missing, f"{airflow_service} lacks {sorted(missing)} from scripts/env.sh"
    assert env["CATALOG_SEARCH_RUNNER"] == "local"
    assert env["CATALOG_SEARCH_BUCKET"] == env_sh_default("CATALOG_SEARCH_BUCKET")
    assert env["CATALOG_SEARCH_SOURCE_DIR"] == "/opt/airflow/data/fashion"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert "@postgres" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"
    assert {"/opt/airflow/plugins", "/opt/airflow/include"} <= set(env["PYTHONPATH"].split(":"))
    assert env["AWS_DEFAULT_REGION"] == env_sh_default("AWS_DEFAULT_REGION")


@pytest.mark.parametrize("airflow_service", sorted(AIRFLOW_SERVICES))
def test_airflow_mounts(airflow_service):
    env = environment(airflow_service)
    mounts = {}
    for volume in SERVICE_DEFS[airflow_service]["volumes"]:
        source, target, *mode = volume.split(":")
        mounts[target] = (source, mode)
    for folder in ("dags", "plugins", "include"):
        assert mounts[f"/opt/airflow/{folder}"][0] == f"./{folder}"
        assert (ROOT / folder).is_dir()
    assert mounts["/opt/airflow/data"] == ("./data", ["ro"])  # the demo data ships with the repo
    assert env["CATALOG_SEARCH_SOURCE_DIR"].startswith("/opt/airflow/data/")
    work_volume, _ = mounts[env["CATALOG_SEARCH_WORK_DIR"]]
    assert work_volume in (COMPOSE.get("volumes") or {}), "the work dir must be a named volume"


def test_the_search_api_serves_with_the_pipelines_connections_and_settings():
    api = SERVICE_DEFS["search-api"]
    assert command_text(api["command"]).startswith("python -m catalog_search serve")
    assert environment("search-api") == environment("airflow-apiserver")
    assert {name: spec["condition"] for name, spec in api["depends_on"].items()} == {
        "opensearch": "service_healthy", "moto": "service_healthy"}
