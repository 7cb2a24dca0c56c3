"""Rate limits of the public clue routes: fixed windows counted in Redis.

Each limited thing (a source address, a vehicle code, a receipt look-up's address) is a counter
under ``tracker.wire.CLUE_RATE_PREFIX`` that lives ``window_s`` from its first hit. A request is
admitted when every counter it touches is still within its limit; one over refuses it with 429
and ``Retry-After`` (the counter's remaining life) and is not counted. Redis holds the counts, so
every API process shares them; the clock is Redis's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis.asyncio as aioredis

from tracker.errors import TooManyRequests
from tracker.wire import CLUE_RATE_PREFIX

# KEYS: counters; ARGV: window ms, then one limit per key. Returns {0, -1} when admitted (all
# counted), else {ms until the full counter's window ends, index of that key}.
_ADMIT = """
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = window end
    return {ttl, i - 1}
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, window) end
end
return {0, -1}
"""


class RateLimited(TooManyRequests):
    code = "rate_limited"


class ClueThrottle:
    def __init__(self, redis: aioredis.Redis, window_s: int) -> None:
        self._script = redis.register_script(_ADMIT)
        self._window_ms = window_s * 1000

    async def admit(self, counters: Sequence[tuple[str, str, int]]) -> None:
        """``counters``: (key suffix, the field it names, limit). Raises RateLimited (429)."""
        keys = [CLUE_RATE_PREFIX + suffix for suffix, _, _ in counters]
        args = [self._window_ms, *(limit for _, _, limit in counters)]
        remaining_ms, which = await self._script(keys=keys, args=args)
        if int(which) < 0:
            return
        retry_after = max(1, math.ceil(int(remaining_ms) / 1000))
        field = counters[int(which)][1]
        raise RateLimited(
            f"too many requests for this {field}; try again in {retry_after} s",
            field=field,
            details={"retry_after_s": retry_after},
            retry_after_s=retry_after,
        )
