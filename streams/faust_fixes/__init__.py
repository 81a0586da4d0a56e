"""Where ctxi mends faust: one module per fix, each saying what it mends and why.

The fixes override methods of faust-streaming (several of them private) and lean on
aiokafka's behaviour, as they were when each fix was written and tested: the versions in
:data:`WRITTEN_FOR`, which ``pyproject.toml`` pins exactly and ``constraints.txt`` locks
with the rest. :func:`check_versions` refuses to build a worker on other versions, and
``tests/unit/streams/test_faust_fixes.py`` fails when a name a fix relies on (its
:data:`RELIES_ON`) disappears from faust or changes its parameters: what to re-check
when upgrading faust.

The fixes, by what they mend:

- ``committed_seek``: a partition with nothing committed is read again from its beginning
  after a rebalance (aiokafka left it where it was: records dropped there were lost);
- ``read_offsets``: a read offset faust's fetch loop writes late no longer drops the next
  generation's records;
- ``seek_flow``: the seek to the committed offsets runs with the flow stopped;
- ``gap_end``: a gap in a partition's offsets ends before the record that ends it;
- ``changelog_ends``: under exactly-once, recovery asks the broker where a changelog ends;
- ``transactions``: under exactly-once, an event's records join the transaction of the
  partition it was read from;
- ``rollback``: under exactly-once, the table rows an aborted transaction changed are
  recovered from the changelog;
- ``changelog_waits``: a message is acknowledged once its changelog records are on the broker;
- ``web_first``: ``/health`` and ``/ready`` answer, and the restore is watched, while tables restore;
- ``decode_errors``: a message no codec can read is dead-lettered instead of crashing agents.

``streams/transport.py`` assembles the consumer and transport from them; ``streams/app.py``
the table and topic classes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

# The versions every fix was written and tested against (pinned in pyproject.toml).
WRITTEN_FOR = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class UnsupportedVersions(RuntimeError):
    """faust-streaming or aiokafka is not the version ctxi's fixes were written for."""


def installed_versions() -> dict[str, str | None]:
    installed: dict[str, str | None] = {}
    for distribution in WRITTEN_FOR:
        try:
            installed[distribution] = version(distribution)
        except PackageNotFoundError:
            installed[distribution] = None
    return installed


def check_versions(installed: dict[str, str | None] | None = None) -> None:
    """Raise :class:`UnsupportedVersions`, naming each version, unless the installed ones are
    those of :data:`WRITTEN_FOR`."""
    installed = installed_versions() if installed is None else installed
    differing = [
        f"{name} {installed.get(name) or 'missing'} (written for {wanted})"
        for name, wanted in WRITTEN_FOR.items()
        if installed.get(name) != wanted
    ]
    if differing:
        raise UnsupportedVersions(
            "ctxi's faust fixes (streams/faust_fixes/) were not written for the installed "
            + ", ".join(differing)
            + ". Install the pinned versions (pip install -c constraints.txt -e .), or port the fixes first:"
            " tests/unit/streams/test_faust_fixes.py lists what they rely on."
        )


@dataclass(frozen=True)
class FaustName:
    """A name of faust's that a fix overrides or calls: a method (with its parameters as
    :func:`parameters` writes them) or, with ``parameters=None``, an attribute faust sets."""

    owner: type
    name: str
    parameters: str | None


def parameters(function: Callable[..., object]) -> str:
    """A function's parameters without annotations, e.g. ``(self, tp, offset_from, offset_to)``:
    what a fix depends on (names, order, kinds, which have defaults), whatever typing prints."""
    shown = []
    keyword_only_marked = False
    for parameter in inspect.signature(function).parameters.values():
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text, keyword_only_marked = f"*{text}", True
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{text}"
        elif parameter.kind is parameter.KEYWORD_ONLY and not keyword_only_marked:
            shown.append("*")
            keyword_only_marked = True
        if parameter.default is not parameter.empty:
            text += "=…"
        shown.append(text)
    return f"({', '.join(shown)})"
