"""Turn raw input bytes into a typed event, or into a dead-letter record saying why not.

This is the one place where input is judged: the ingest agent (Kafka), ``ctxi replay``
and ``ctxi events check`` (files) all call :func:`validate_event`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ctxi.schemas.common import VISIBLE
from ctxi.schemas.dead_letter import DeadLetter, FieldError, Origin, dead_letter
from ctxi.schemas.events import EVENT_ADAPTER, Event
from ctxi.settings import EventTimeWindow

MAX_ERRORS = 20  # a dead letter lists this many of an input's errors, and counts the rest
_KEY_END = re.compile(rb'"\s*:')  # in JSON without escapes: the end of a key
# What a log line or a reason must not carry raw: control and format characters (a newline
# in a key once forged an [ERROR] line)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")

# pydantic's error types for an input that is not a JSON object at all.
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dict_type"}


DEFAULT_TIME_WINDOW = EventTimeWindow()


def validate_event(
    raw: bytes | None,
    origin: Origin,
    *,
    now: datetime | None = None,
    window: EventTimeWindow = DEFAULT_TIME_WINDOW,
) -> Event | DeadLetter:
    """Parse and validate one message. Never raises for bad input: it returns a :class:`DeadLetter`."""
    if not raw:
        return dead_letter(
            raw or b"", origin, [FieldError(loc="", type="empty", msg="empty message")], "empty message", now
        )
    try:
        event = EVENT_ADAPTER.validate_json(raw)
        if (problem := _duplicate_key_problem(raw)) is not None:
            return dead_letter(raw, origin, [problem], _reason([problem]), now)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False)
        errors = [_field_error(detail) for detail in details[:MAX_ERRORS]]
        reason = _reason(errors) + (
            f"; and {len(details) - MAX_ERRORS} more errors" if len(details) > MAX_ERRORS else ""
        )
        return dead_letter(raw, origin, errors, reason, now)
    now = now or datetime.now(UTC)
    implausible = window.problem(event.occurred_at, now)
    if implausible is not None:
        error = FieldError(loc="occurred_at", type="implausible_time", msg=implausible)
        return dead_letter(raw, origin, [error], f"occurred_at: {implausible}", now)
    return event


def unknown_fields(document: object, event: BaseModel) -> list[str]:
    """The fields of a valid event's JSON the contract does not know, as dotted paths.

    Payloads ignore them (a source may add data without being dead-lettered), so
    ``ctxi events check`` names them: rules can only read what arrives in ``payload.attributes``.
    """
    return list(_unknown(document, event, ""))


def _unknown(document: object, model: BaseModel, path: str):
    if not isinstance(document, dict):
        return
    fields = type(model).model_fields
    for key, value in document.items():
        where = f"{path}{key}"
        if key not in fields:
            yield where
            continue
        known = getattr(model, key)
        if isinstance(known, BaseModel):
            yield from _unknown(value, known, f"{where}.")
        elif isinstance(known, list | tuple) and isinstance(value, list):
            for index, (item, raw) in enumerate(zip(known, value, strict=False)):
                if isinstance(item, BaseModel):
                    yield from _unknown(raw, item, f"{where}.{index}.")


def _duplicate_key_problem(raw: bytes) -> FieldError | None:
    """A key given twice in one object: pydantic keeps the last value, silently, where another
    reader of the same bytes may take the first."""
    if b"\\" not in raw:
        # no escapes: no string holds a quote, so every quote before a colon ends a key, and
        # the parsed document, written back compactly, has one '":' per distinct key
        spaced = any(space in raw for space in (b'" ', b'"\t', b'"\n', b'"\r'))  # '"key" :', rare
        keys = len(_KEY_END.findall(raw)) if spaced else raw.count(b'":')
        try:
            if keys == orjson.dumps(orjson.loads(raw)).count(b'":'):
                return None
        except orjson.JSONDecodeError:  # NaN or 1e400 in a field the contract ignores: read it exactly
            pass
    key = _duplicate_key(raw)
    return FieldError(loc=key, type="duplicate_key", msg="a key given twice in one object") if key else None


def _duplicate_key(raw: bytes) -> str:
    """The path of the first key given twice, or '' (read again, exactly: only unusual input gets here)."""
    found: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except ValueError:  # what pydantic read but Python's reader cannot: nothing to say about its keys
        return ""
    return printable(found[0]) if found else ""


def printable(text: str) -> str:
    """``text`` with control and invisible characters escaped (\\n, \\u200b): safe in a log line."""
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


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
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind == "finite_number":
        msg = "not a finite number (NaN and infinities are refused)"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == VISIBLE:
        msg = "blank (only whitespace, invisible or control characters)"
    elif kind == "union_tag_not_found":
        loc, msg = ["type"], "Field required"
    return FieldError(loc=".".join(printable(str(part)) for part in loc), type=kind, msg=msg)


def _reason(errors: list[FieldError]) -> str:
    return "; ".join(f"{error.loc}: {error.msg}" if error.loc else error.msg for error in errors)
