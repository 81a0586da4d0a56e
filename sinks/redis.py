"""Redis connections for the sinks and the desktop gateway (redis-py's asyncio API)."""

from __future__ import annotations

import redis.asyncio as aioredis


def connect_redis(url: str) -> aioredis.Redis:
    """A client for ``url``; connections are opened lazily and health-checked when idle."""
    return aioredis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5)
