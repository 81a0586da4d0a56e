"""How the command line says what went wrong: one line on stderr, and an exit status.

Commands call :func:`fail` for what they check themselves (options, files, rule packs).
What the services or the environment refuse, whichever command meets it, becomes one line
too: a Kafka broker or a Redis server out of reach, a bad ``CTXI_`` variable, a
dev stack that cannot start, a faust the worker's fixes were not written for, a
service-level policy with mistakes (each as file:line). Anything
else is a bug and keeps its traceback. :class:`OneLineErrors` is the root command group.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

# exit statuses: 1 the work failed, 2 the command was given something it cannot use
FAILED, UNUSABLE = 1, 2


def err(message: str) -> None:
    """A line on stderr: progress, warnings, and what went wrong."""
    typer.echo(message, err=True)


def validation_line(exc: Any) -> str:
    """A pydantic ``ValidationError`` as one line: every field's problem, ``loc: msg; ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())


def fail(message: str, code: int = FAILED) -> NoReturn:
    """End the command: ``error: <message>`` on stderr, exit status ``code``."""
    err(f"error: {message}")
    raise typer.Exit(code)


def failure_line(exc: BaseException) -> tuple[str, int] | None:
    """What to tell the user about ``exc``, and the exit status; None for a bug (a traceback)."""
    from kafka.errors import KafkaError
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from ctxi.devstack import DevStackError
    from ctxi.service_levels.policy import PolicyError
    from ctxi.streams.faust_fixes import UnsupportedVersions

    if isinstance(exc, SettingsError | ValidationError):  # a bad CTXI_* variable
        return settings_problem(exc), UNUSABLE
    if isinstance(exc, DevStackError | UnsupportedVersions):  # their messages say what to do
        return str(exc), FAILED
    if isinstance(exc, PolicyError):  # CTXI_SLA_POLICY: each problem as file:line
        return "the service-level policy cannot be used:\n" + "\n".join(exc.errors), FAILED
    if isinstance(exc, KafkaError):
        return (
            f"Kafka at {_configured('kafka_bootstrap_servers')} failed: {exc} (is it up? ctxi devstack status)",
            FAILED,
        )
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return f"Redis at {_configured('redis_url')} failed: {exc} (is it up? ctxi devstack status)", FAILED
    return None


def _configured(name: str) -> str:
    from ctxi.settings import get_settings

    return str(getattr(get_settings(), name))


def settings_problem(exc: Exception) -> str:
    """What is wrong with the CTXI_* environment, naming the variable."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"CTXI_{'__'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
    field = re.search(r'field "(\w+)"', str(exc))
    variable = f"CTXI_{field.group(1).upper()}" if field else "a CTXI_ variable"
    cause = f" ({exc.__cause__})" if exc.__cause__ else ""
    return f"{variable} is not valid JSON{cause}"


class OneLineErrors(TyperGroup):
    """The root command group: what :func:`failure_line` knows ends any command with one line."""

    def invoke(self, ctx: Any) -> Any:  # a context of the click typer vendors
        try:
            return super().invoke(ctx)
        except Exception as exc:
            known = failure_line(exc)
            if known is None:
                raise
            message, code = known
            fail(message, code)
