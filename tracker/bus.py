"""Redis pub/sub channel names.

Redis keys live in numbered databases, but pub/sub channels do not: a message published on
``tracker:incidents`` from database 3 reaches subscribers connected to database 0 too. So every
channel carries the database number of the client that uses it, and two deployments (a demo and
a test run, say) that share one Redis server on different database numbers never hear each other.
"""

from __future__ import annotations

from typing import Any

FENCES = "fences"  # fence changes (places, permits): FenceChange JSON
INCIDENTS = "incidents"  # live incident events from the engine
VEHICLE_STATES = "vstates"  # engine truck states (idle, loading, hauling, ...) after commit
YARDS = "yards"  # disposal-yard capacity alerts and closures


def redis_db(client: Any) -> int:
    """The database number a redis-py client (sync or asyncio) talks to."""
    kwargs = client.connection_pool.connection_kwargs
    return int(kwargs.get("db", 0) or 0)


def channel(client: Any, name: str) -> str:
    """The channel ``name`` for the database ``client`` uses: ``tracker:{db}:{name}``."""
    return f"tracker:{redis_db(client)}:{name}"
