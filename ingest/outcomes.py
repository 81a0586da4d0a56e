"""Outcomes are trusted only as far as they are proven.

What agents did with tasks comes back on ``tasks.outcomes`` and changes decisions: the
contact policy stops proposing an action a customer's agents dismissed three times, and
rules with ``learn_priority`` weigh their tasks by how agents closed the earlier ones. So
anyone able to write to that topic could silence a customer's fraud alerts. A Kafka
consumer trusts a topic only as far as its producers are authorised (docs/security.md
lists the ACLs a deployment sets); on top of that, ctxi believes an outcome only when:

- a gateway signed it (HMAC-SHA256 over the outcome, :func:`sign`) with a key the worker
  holds: the gateway signs only the close of a task that was in its task store, by the
  agent holding its claim, one outcome per close (gateway/app.py);
- its times make sense: the task was created before it was claimed, claimed before it
  was closed, and closed no later than now (give or take :data:`CLOCK_SKEW`).

The keys are ``CTXI_OUTCOME_KEYS`` (gateways sign with the first, workers accept any, so
a new key is rolled out without downtime), or, when that is empty, one key the first
gateway or worker makes and keeps in Redis (``<prefix>:outcome_key``): signed by default,
with nothing to configure. Workers dead-letter what fails, with the reason, and count it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson

from ctxi.schemas.task import TaskOutcome

CLOCK_SKEW = timedelta(minutes=5)  # between a gateway's clock and a worker's
SIGNATURE_SCHEME = "hmac-sha256:"


def _signed_bytes(outcome: TaskOutcome) -> bytes:
    """The outcome as the signature covers it: every field but the signature, in one order."""
    return orjson.dumps(outcome.model_dump(mode="json", exclude={"signature"}), option=orjson.OPT_SORT_KEYS)


def _digest(outcome: TaskOutcome, key: bytes) -> str:
    return SIGNATURE_SCHEME + hmac.new(key, _signed_bytes(outcome), hashlib.sha256).hexdigest()


def sign(outcome: TaskOutcome, key: bytes) -> TaskOutcome:
    """``outcome`` with a gateway's signature."""
    return outcome.model_copy(update={"signature": _digest(outcome, key)})


def outcome_problem(outcome: TaskOutcome, keys: Sequence[bytes] | None, now: datetime) -> str | None:
    """Why ``outcome`` cannot be believed at ``now`` (None: it can). ``keys``: the keys a gateway
    may have signed it with; None only where the outcomes are the caller's own (a replay's
    ``--outcomes`` file), which are then checked for their times alone."""
    if keys is not None:
        if outcome.signature is None:
            return "not signed by a gateway (outcomes are trusted only from gateways)"
        if not any(hmac.compare_digest(outcome.signature, _digest(outcome, key)) for key in keys):
            return "signature does not match (not signed by a gateway with a key this worker holds)"
    if outcome.created_at is None:
        return "no created_at: a gateway always says when the task was created"
    if outcome.claimed_at is not None and not outcome.created_at <= outcome.claimed_at <= outcome.at:
        return "claimed_at is not between the task's creation and its close"
    if outcome.at < outcome.created_at:
        return "closed before the task was created"
    if outcome.at > now + CLOCK_SKEW:
        return f"closed in the future ({outcome.at.isoformat()}; now {now.isoformat()})"
    return None
