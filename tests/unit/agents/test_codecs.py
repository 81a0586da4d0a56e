"""The faust codecs carry typed models over Kafka and back unchanged."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from faust.serializers import codecs
from pydantic import ValidationError

from ctxi.agents.codecs import CODECS, DEAD_LETTER_CODEC, EVENT_CODEC, TASK_CODEC
from ctxi.ingest import read_jsonl, validate_event
from ctxi.schemas.dead_letter import DeadLetter, KafkaOrigin
from ctxi.schemas.task import TaskContext
from ctxi.streams.codecs import CODEC_NAMES, check_registered
from tests.factories import make_task

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "events.jsonl"


def test_every_example_event_survives_the_event_codec() -> None:
    events = [record.outcome for record in read_jsonl(EXAMPLES)]
    assert events and not any(isinstance(event, DeadLetter) for event in events)
    for event in events:
        data = codecs.dumps(EVENT_CODEC, event)
        assert codecs.loads(EVENT_CODEC, data) == event
        # the wire format is the contract's JSON, readable by any consumer
        assert orjson.loads(data)["event_id"] == event.event_id


def test_event_codec_rejects_invalid_json_with_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        codecs.loads(EVENT_CODEC, b'{"type": "social.checkin"}')


def test_dead_letter_codec_round_trip() -> None:
    letter = validate_event(b"\xffnot json", KafkaOrigin(topic="events.crm", partition=0, offset=9))
    assert isinstance(letter, DeadLetter)
    assert codecs.loads(DEAD_LETTER_CODEC, codecs.dumps(DEAD_LETTER_CODEC, letter)) == letter


def test_task_codec_round_trip() -> None:
    task = make_task(context=TaskContext(tier="gold", lifetime_value=18250.0, open_cases=1))
    data = codecs.dumps(TASK_CODEC, task)
    assert codecs.loads(TASK_CODEC, data) == task
    assert orjson.loads(data)["not_before"] is None


def test_the_agents_give_a_model_to_every_codec_name_the_topics_use_and_no_other() -> None:
    """``streams/codecs.py`` names the codecs, ``agents/codecs.py`` says what each carries: the two
    lists stay one, so a worker's build never leaves a topic's codec unregistered."""
    assert sorted(CODECS) == sorted(CODEC_NAMES)
    check_registered()  # importing the agents' codecs registered every one
