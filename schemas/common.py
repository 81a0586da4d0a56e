"""Building blocks shared by event payloads and tasks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

# Strict: JSON numbers stay numbers, booleans stay booleans, and a string like "12.5"
# in a numeric field is an error rather than a silent conversion. Timestamps are still
# parsed from RFC 3339 strings, which strict mode accepts for JSON input. NaN and the
# infinities (and 1e400, which JSON parsers read as infinity) are refused: no sum, distance
# or priority computed from them means anything, and JSON cannot carry them on.
STRICT = ConfigDict(strict=True, frozen=True, allow_inf_nan=False)

# --- the contract's limits (docs/limits.md lists them for the people who send events) ---
MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 10_000
MAX_AMOUNT = 1e12  # a money amount or balance, in the currency's units
MAX_INT64 = 2**63 - 1  # what Kafka's JSON consumers (Java's long, orjson) can all read
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)

# At least one character a person can see: not only whitespace, zero-width or other format
# characters (U+200B, U+FEFF, bidi marks) or control characters. An id made of zero-width
# characters looks empty on every screen yet keys its own customer.
VISIBLE = r"[^\s\p{Cf}\p{Cc}]"
# An id or a name: never blank, bounded.
NonEmptyStr = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=VISIBLE)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=VISIBLE)]


def shorten(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis when longer: a task built from a long
    field (a weather description at its limit) is still a task."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Free text (a post, a summary, a user agent): may be empty, bounded.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]
# Text a person must read (a task's reason, a step): not blank, bounded.
NonBlankText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=VISIBLE)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # ISO 4217
AirportCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # IATA
# IATA flight designator: airline (2 letters/digits), 1-4 digits, optional suffix letter.
FlightNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}[0-9]{1,4}[A-Z]?$")]
Sentiment = Annotated[float, Field(ge=-1.0, le=1.0)]
Money = Annotated[float, Field(ge=0, le=MAX_AMOUNT)]
Balance = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]  # may be negative: an overdrawn account

# Fields a source system sends before the contract knows them: rules read them as
# ``event.payload.attributes.<key>``. Scalars only, bounded, so they cost what a field costs.
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_LENGTH = 1_000
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
AttributeValue = (
    Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE_LENGTH)]
    | bool
    | Annotated[int, Field(ge=-MAX_INT64, le=MAX_INT64)]
    | Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
    | None
)
Attributes = Annotated[dict[AttributeKey, AttributeValue], Field(max_length=MAX_ATTRIBUTES)]


# RFC 3339's date-time (seconds required; 'T', 't' or a space; offset 'Z' or +hh:mm). pydantic
# alone also reads "1772359200" (and "1772359200.5") as Unix time and "+0100" offsets: not
# the contract, and a source sending them has a bug worth a dead letter.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?")


_EARLIEST, _LATEST = "1970-01-01T00:00:00Z", "2200-01-01T00:00:00Z"  # EARLIEST_TIME, LATEST_TIME as written


def rfc3339(value: Any) -> Any:
    """A timestamp given as text must be RFC 3339, read here (one without an offset is then
    refused as naive); other values are pydantic's to judge."""
    if not isinstance(value, str):
        return value
    if not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "datetime_parsing",
            "not an RFC 3339 timestamp (like 2026-03-01T10:00:00Z); Unix times and other forms are refused",
        )
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError as exc:  # a day or an hour out of range
        raise PydanticCustomError("datetime_parsing", "not a valid time: {problem}", {"problem": str(exc)}) from None
    if parsed.tzinfo is not None:  # the bounds, said as the contract writes times
        if parsed < EARLIEST_TIME:
            raise PydanticCustomError("greater_than_equal", f"Input should be greater than or equal to {_EARLIEST}")
        if parsed >= LATEST_TIME:
            raise PydanticCustomError("less_than", f"Input should be less than {_LATEST}")
    return parsed


# A timestamp with an explicit UTC offset (a naive one is rejected), in years the engine
# can add its windows to without leaving the calendar. How far an event's own time may
# stray from the clock is ingest's to judge (ingest/validation.py).
Timestamp = Annotated[AwareDatetime, BeforeValidator(rfc3339), Field(ge=EARLIEST_TIME, lt=LATEST_TIME)]


MAX_ACCURACY_KM = 20_038.0  # half the Earth's circumference: anywhere at all


class Location(BaseModel):
    model_config = STRICT

    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    city: NonEmptyStr | None = None
    country: CountryCode | None = None
    accuracy_km: Annotated[float, Field(ge=0, le=MAX_ACCURACY_KM)] | None = None


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> Any:
    """Durations as people write them in YAML: '90s', '30m', '4h', '2d' -> timedelta; any other
    text is an error naming those forms (other values are left to pydantic)."""
    if not isinstance(value, str):
        return value
    if not (match := _DURATION.match(value)):
        raise PydanticCustomError(
            "duration_parsing",
            "{value} is not a duration: write a whole number and s, m, h or d (90s, 30m, 4h, 30d)",
            {"value": repr(value.strip())},
        )
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:  # a 40-digit count of days: an error at its line, not a crash
        raise ValueError(f"{value.strip()} is longer than any duration can be") from None


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
