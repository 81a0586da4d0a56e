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


def test_every_scrape_job_an_alert_names_is_scraped() -> None:
    jobs = {job["job_name"] for job in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]}
    alerts = (PROMETHEUS / "alerts.yml").read_text()
    named = set(re.findall(r'job="([^"]+)"', alerts))
    assert named and named <= jobs
