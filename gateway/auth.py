"""Who may use the desktop gateway: per-agent tokens (stored hashed) and the queues they may work.

Configuration (``CTXI_AGENTS``, JSON): ``{"A-1": {"token_sha256": "...", "queues": ["fraud"]}}``.
``ctxi desktop token A-1 --queues fraud`` makes a token and prints its entry; the token
itself is shown once and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

from ctxi.settings import AgentAccess


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Identity(NamedTuple):
    agent_id: str
    queues: frozenset[str]
    role: str  # "agent" or "supervisor"
    customer_lookup: bool  # may open any customer, not only its queues' (gateway/customers.py)


class Directory:
    """Resolves a bearer token to its agent and the queues it may read and claim."""

    def __init__(self, agents: dict[str, AgentAccess]) -> None:
        self._agents = agents

    def authenticate(self, token: str) -> Identity | None:
        digest = hash_token(token)
        for agent_id, access in self._agents.items():
            if hmac.compare_digest(digest, access.token_sha256):
                return Identity(agent_id, frozenset(access.queues), access.role, access.customer_lookup)
        return None
