"""Turn raw input bytes into a typed event, or into a dead-letter record saying why not.

This is the one place where input is judged: the ingest agent (Kafka), ``ctxi replay``
and ``ctxi events check`` (files) all call :func:`validate_event`.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ctxi.schemas.dead_letter import DeadLetter, FieldError, Origin
from ctxi.schemas.events import EVENT_ADAPTER, Event

# pydantic's error types for an input that is not a JSON object at all.
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dict_type"}


def validate_event(raw: bytes | None, origin: Origin, *, now: datetime | None = None) -> Event | DeadLetter:
    """Parse and validate one message. Never raises for bad input: it returns a :class:`DeadLetter`."""
    if not raw:
        return _dead_letter(
            raw or b"", origin, [FieldError(loc="", type="empty", msg="empty message")], "empty message", now
        )
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        errors = [_field_error(detail) for detail in exc.errors(include_url=False, include_input=False)]
        return _dead_letter(raw, origin, errors, _reason(errors), now)


def processing_failure(raw: bytes, origin: Origin, error: Exception, *, now: datetime | None = None) -> DeadLetter:
    """A valid event the engine failed on (a bug, not bad input): kept, with the error, for a replay."""
    message = f"processing failed: {type(error).__name__}: {error}"
    return _dead_letter(raw, origin, [FieldError(loc="", type="processing_error", msg=message)], message, now)


def _field_error(detail: ErrorDetails) -> FieldError:
    kind, loc, msg = detail["type"], list(detail["loc"]), detail["msg"]
    # A discriminated union puts the matched tag first (('social.checkin', 'payload', ...));
    # the reader wants the path inside the event.
    if loc and isinstance(loc[0], str) and "." in loc[0]:
        loc = loc[1:]
    ctx = detail.get("ctx", {})
    if kind == "json_invalid":
        msg = f"not valid JSON: {msg.removeprefix('Invalid JSON: ')}"
    elif kind in _NOT_AN_OBJECT and not loc:
        msg = "not a JSON object"
    elif kind == "timezone_aware":
        msg = "timestamp without UTC offset (RFC 3339 needs one, e.g. 2026-03-01T10:00:00Z)"
    elif kind == "union_tag_invalid":
        loc, msg = ["type"], f"unknown event type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        loc, msg = ["type"], "Field required"
    return FieldError(loc=".".join(str(part) for part in loc), type=kind, msg=msg)


def _reason(errors: list[FieldError]) -> str:
    return "; ".join(f"{error.loc}: {error.msg}" if error.loc else error.msg for error in errors)


def _dead_letter(raw: bytes, origin: Origin, errors: list[FieldError], reason: str, now: datetime | None) -> DeadLetter:
    try:
        original, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    event_id, event_type = _identity(raw)
    return DeadLetter(
        reason=reason,
        errors=errors,
        original=original,
        original_encoding=encoding,
        origin=origin,
        event_id=event_id,
        event_type=event_type,
        rejected_at=now or datetime.now(UTC),
    )


def _identity(raw: bytes) -> tuple[str | None, str | None]:
    """Best-effort event_id and type of a rejected message, to help whoever triages it."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    event_id, event_type = document.get("event_id"), document.get("type")
    return (
        event_id if isinstance(event_id, str) else None,
        event_type if isinstance(event_type, str) else None,
    )
