"""Building blocks shared by event payloads and tasks."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

# Strict: JSON numbers stay numbers, booleans stay booleans, and a string like "12.5"
# in a numeric field is an error rather than a silent conversion. Timestamps are still
# parsed from RFC 3339 strings, which strict mode accepts for JSON input.
STRICT = ConfigDict(strict=True, frozen=True)

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # ISO 4217
AirportCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # IATA
# IATA flight designator: airline (2 letters/digits), 1-4 digits, optional suffix letter.
FlightNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2}[0-9]{1,4}[A-Z]?$")]
Sentiment = Annotated[float, Field(ge=-1.0, le=1.0)]
Money = Annotated[float, Field(ge=0)]
# A timestamp with an explicit UTC offset; a naive one is rejected.
Timestamp = AwareDatetime


class Location(BaseModel):
    model_config = STRICT

    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    city: NonEmptyStr | None = None
    country: CountryCode | None = None
    accuracy_km: Annotated[float, Field(ge=0)] | None = None
