"""The Prometheus alert rules (deploy/prometheus/alerts.yml): valid, unit-tested, on real metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY, Metric

import ctxi.streams.metrics  # noqa: F401  (registers the worker's metrics)
from ctxi.gateway.metrics import REGISTRY as GATEWAY_REGISTRY
from tests.conftest import unavailable

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def promtool(*args: str) -> str:
    if shutil.which("promtool") is None:
        unavailable("promtool is not installed (scripts/setup installs Debian's prometheus package)")
    done = subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_and_the_config_are_valid() -> None:
    assert "7 rules found" in promtool("check", "rules", "alerts.yml")
    promtool("check", "config", "prometheus.yml")


def test_the_alerts_fire_when_they_should_and_only_then() -> None:
    promtool("test", "rules", "alerts_test.yml")


def exported(metric: Metric) -> set[str]:
    return {metric.name + suffix for suffix in SAMPLE_SUFFIXES.get(metric.type, ("",))}


def test_every_metric_an_alert_reads_is_one_ctxi_exports() -> None:
    names = {name for registry in (REGISTRY, GATEWAY_REGISTRY) for m in registry.collect() for name in exported(m)}
    rules = [
        rule for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for rule in group["rules"]
    ]
    read = {name for rule in rules for name in re.findall(r"\bctxi_[a-z_]+\b", rule["expr"])}
    assert read and read <= names, sorted(read - names)


def test_every_app_an_alert_names_is_labelled_so_under_compose_and_kubernetes() -> None:
    """Alerts match the workers by their ``app`` label: Kubernetes' pod scraping keeps the pods'
    labels but names its own job, so a job name matched only under compose (it once did)."""
    scrape_configs = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    compose = {
        relabel["replacement"]
        for job in scrape_configs
        for relabel in job.get("relabel_configs", [])
        if relabel.get("target_label") == "app"
    } | {static["labels"]["app"] for job in scrape_configs for static in job.get("static_configs", [])}
    manifest = PROMETHEUS.parent / "kubernetes" / "ctxi.yaml"
    pods = {
        doc["spec"]["template"]["metadata"]["labels"]["app"]
        for doc in yaml.safe_load_all(manifest.read_text())
        if doc["kind"] in ("StatefulSet", "Deployment")
    }
    alerts = (PROMETHEUS / "alerts.yml").read_text()
    named = set(re.findall(r'app="([^"]+)"', alerts))
    assert named and named <= compose and named <= pods
    assert "job=" not in alerts
