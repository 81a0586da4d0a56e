"""docs/configuration.md and docker-compose.yml stay in step with the settings model."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import kubernetes_validate
import yaml

from ctxi.settings import EngineConfig, EventTimeWindow, PriorityWeights, Settings

ROOT = Path(__file__).resolve().parents[2]
ENV_VARS = (
    {f"CTXI_{name.upper()}" for name in Settings.model_fields if name not in ("engine", "event_time")}
    | {f"CTXI_EVENT_TIME__{name.upper()}" for name in EventTimeWindow.model_fields}
    | {f"CTXI_ENGINE__{name.upper()}" for name in EngineConfig.model_fields if name != "priority"}
    | {f"CTXI_ENGINE__PRIORITY__{name.upper()}" for name in PriorityWeights.model_fields}
)


def test_the_configuration_page_documents_every_setting() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert not [variable for variable in sorted(ENV_VARS) if f"`{variable}`" not in page]


def test_compose_worker_uses_only_real_settings_and_waits_for_healthy_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    assert set(worker["environment"]) <= ENV_VARS
    assert {name: dependency["condition"] for name, dependency in worker["depends_on"].items()} == {
        "kafka": "service_healthy",
        "redis": "service_healthy",
    }
    for service in ("kafka", "redis", "worker"):
        assert "healthcheck" in compose["services"][service]
    # the broker image, public or built from Debian's packages, is the version the dev stack runs
    pom = (ROOT / "devstack" / "pom.xml").read_text()
    image = compose["services"]["kafka"]["image"]
    [version] = re.findall(r"^\$\{CTXI_COMPOSE_KAFKA_IMAGE:-apache/kafka:(\S+)\}$", image)
    assert f"<kafka.version>{version}</kafka.version>" in pom
    assert f"ctxi-local/kafka:{version}" in (ROOT / "scripts" / "container-images").read_text()


def test_the_image_copies_every_package_folder() -> None:
    import tomllib

    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    assert "COPY . ." in (ROOT / "Dockerfile").read_text()
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert not [folder for folder in sorted(folders) if any(fnmatch(folder, pattern) for pattern in ignored)]


def test_compose_gateway_uses_only_real_settings() -> None:
    gateway = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["gateway"]
    assert set(gateway["environment"]) <= ENV_VARS
    assert gateway["command"] == ["desktop"]


def test_compose_runs_two_workers_scraped_by_prometheus() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["environment"]["CTXI_METRICS_HOST"] == "0.0.0.0"
    assert "/ready" in " ".join(worker["healthcheck"]["test"])
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["ctxi-worker"]["dns_sd_configs"][0]["port"] == Settings().metrics_port
    [gateway] = jobs["ctxi-gateway"]["static_configs"][0]["targets"]
    assert gateway == f"gateway:{Settings().desktop_port}"


def test_the_kubernetes_example_validates_strictly_against_kubernetes_1_32() -> None:
    manifest = (ROOT / "deploy" / "kubernetes" / "ctxi.yaml").read_text()
    for document in yaml.safe_load_all(manifest):
        kubernetes_validate.validate(document, "1.32.0", strict=True)  # raises on any unknown or wrong field
    commands = [line.split("#")[1].strip() for line in manifest.splitlines() if line.startswith("#   kubectl")]
    assert commands and all("--env-from" not in command for command in commands)  # not a kubectl 1.32 flag


def test_the_kubernetes_example_uses_real_settings_ports_and_probes() -> None:
    manifest = (ROOT / "deploy" / "kubernetes" / "ctxi.yaml").read_text()
    documents = {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(manifest)}
    config, secret = documents["ConfigMap", "ctxi"]["data"], documents["Secret", "ctxi-agents"]["stringData"]
    assert set(config) | set(secret) <= ENV_VARS
    settings = Settings()
    workers = documents["StatefulSet", "ctxi-worker"]["spec"]
    [worker] = workers["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    assert ports == {"web": settings.web_port, "metrics": settings.metrics_port}
    assert (worker["livenessProbe"]["httpGet"]["path"], worker["readinessProbe"]["httpGet"]["path"]) == (
        "/health",
        "/ready",
    )
    assert workers["replicas"] <= int(config["CTXI_TOPIC_PARTITIONS"])  # no idle worker
    # RocksDB on a volume of each worker's own: a restart reads the changelog's tail, not all of it
    assert config["CTXI_STORE"] == "rocksdb://"
    [claim] = workers["volumeClaimTemplates"]
    [mount] = worker["volumeMounts"]
    assert mount["name"] == claim["metadata"]["name"] and mount["mountPath"] == config["CTXI_DATA_DIR"]
    [gateway] = documents["Deployment", "ctxi-gateway"]["spec"]["template"]["spec"]["containers"]
    assert gateway["args"] == ["desktop"] and gateway["readinessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = documents["Deployment", "ctxi-gateway"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(gateway["ports"][0]["containerPort"])


def test_every_package_folder_is_installed() -> None:
    """A subpackage missing from ``packages`` works in the editable checkout and not in the image."""
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join([package, *init.parent.relative_to(ROOT / folder).parts])
        for package, folder in setuptools["package-dir"].items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found == set(setuptools["packages"])


def test_every_type_ignore_in_the_product_code_says_why_on_its_line() -> None:
    """mypy checks the product code (scripts/typecheck); where it is told not to, the line says why."""
    import re
    import tomllib

    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    ignore = re.compile(r"#\s*type:\s*ignore(\[[\w\-, ]+\])?(?P<after>.*)$")
    unexplained = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in set(package_dir.values())
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if (found := ignore.search(line)) and not re.match(r"\s*#\s*\S", found["after"])
    ]
    assert unexplained == []
