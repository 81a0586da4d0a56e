from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from ctxi.settings import Settings
from ctxi.streams.topics import catalogue


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the process environment: start each test from none of ours."""
    for variable in [name for name in os.environ if name.startswith("CTXI_")]:
        monkeypatch.delenv(variable)


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.input_topics == ["events.crm", "events.billing", "events.social", "events.travel", "events.device"]


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXI_KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("CTXI_SOURCES", '["crm", "travel"]')
    monkeypatch.setenv("CTXI_TOPIC_PARTITIONS", "12")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert settings.input_topics == ["events.crm", "events.travel"]
    assert settings.topic_partitions == 12


def test_unknown_source_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXI_SOURCES", '["crm", "fax"]')
    with pytest.raises(ValidationError, match=r"unknown source\(s\) \['fax'\]"):
        Settings()


def test_partitions_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Settings(topic_partitions=0)


def test_catalogue_lists_every_topic_once_with_the_configured_layout() -> None:
    settings = Settings(topic_partitions=6, dead_letter_topic="dlq")
    specs = catalogue(settings)
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names))
    assert {
        *settings.input_topics,
        settings.events_by_customer_topic,
        settings.signals_topic,
        "dlq",
        "tasks.fraud",
        "tasks.travel",
        "tasks.service",
        "tasks.shadow",
        "tasks.outcomes",
        "tasks.closures",
        "ctxi.rules",
        "ctxi.snoozes",
        "ctxi-customer_context-changelog",
        "ctxi-fleet_index-changelog",
        "ctxi-entity_features-changelog",
    } == set(names)
    published = {settings.rules_topic, settings.snoozes_topic}
    changelogs = {"ctxi-customer_context-changelog", "ctxi-fleet_index-changelog", "ctxi-entity_features-changelog"}
    assert {spec.partitions for spec in specs if spec.name not in published} == {6}
    assert {spec.config.get("cleanup.policy") for spec in specs if spec.name in published | changelogs} == {"compact"}
    assert "retention.ms" in next(spec for spec in specs if spec.name == "dlq").config


def test_engine_tunables_are_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXI_ENGINE__MAX_SPEED_KMH", "900")
    monkeypatch.setenv("CTXI_ENGINE__ENGAGEMENT_WEIGHTS", "[0.5, 0.25, 0.25]")
    settings = Settings()
    assert settings.engine.max_speed_kmh == 900
    assert settings.engine.engagement_weights == (0.5, 0.25, 0.25)
    assert settings.engine.late_grace_seconds == 300  # the rest keep their defaults
