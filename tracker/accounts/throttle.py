"""Login throttling: failed logins lock an account, and a source address, with back-off.

Counts live in Redis (hashes under ``tracker.wire.LOGIN_THROTTLE_PREFIX``), so every API process
sees the same ones and a restart forgets nothing. Each key counts failures in a row; at the limit
(``LoginSettings.max_failures`` for an account, ``source_max_failures`` for an address) it is
locked for ``lockout_s``, doubled with each further lockout up to ``lockout_max_s``. A successful
login clears its account's failures (not its address's). Counts expire ``forget_after_s`` after
the last failure. The clock is Redis's (``TIME``), so processes on different hosts agree.

While a key is locked every attempt is refused with 429 and ``Retry-After`` before any password
is checked: a locked account cannot be probed, not even with the right password.
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis

from tracker.errors import TooManyRequests
from tracker.settings import LoginSettings
from tracker.wire import LOGIN_THROTTLE_PREFIX

# Counts one failure on the hash KEYS[i]; ARGV: limit, base lock ms, cap ms, forget ms. Returns
# the lock in ms it started (0: none).
_COUNT = """
local function count(key, now, limit, base, cap, forget)
  local n = redis.call('HINCRBY', key, 'n', 1)
  local lock = 0
  if n >= limit then
    local k = redis.call('HINCRBY', key, 'k', 1)
    lock = math.min(base * 2 ^ (k - 1), cap)
    redis.call('HSET', key, 'n', 0, 'until', now + lock)
  end
  redis.call('PEXPIRE', key, math.floor(math.max(forget, lock)))
  return math.floor(lock)
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
"""
# KEYS: account, source. ARGV: limit, base, cap, forget. While either is locked: returns the
# remaining lock in ms and which key (0 account, 1 source). Otherwise admits the attempt and
# counts it against the account before its password is checked (a success clears it), so a
# flood of concurrent guesses gets no more than the limit through: {0, -1}.
_ADMIT = (
    _COUNT
    + """
local best, which = 0, -1
for i, key in ipairs(KEYS) do
  local until_ms = tonumber(redis.call('HGET', key, 'until') or '0')
  if until_ms - now > best then best, which = until_ms - now, i - 1 end
end
if which >= 0 then return {best, which} end
count(KEYS[1], now, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return {0, -1}
"""
)
# KEYS[1]: a source. ARGV as above. Returns the lock in ms it started (0: none).
_FAIL = (
    _COUNT
    + """
return count(KEYS[1], now, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
             tonumber(ARGV[4]))
"""
)


class LoginLocked(TooManyRequests):
    code = "login_locked"


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, settings: LoginSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._admit = redis.register_script(_ADMIT)
        self._fail = redis.register_script(_FAIL)

    @staticmethod
    def _keys(username: str, source: str) -> list[str]:
        return [f"{LOGIN_THROTTLE_PREFIX}user:{username}", f"{LOGIN_THROTTLE_PREFIX}src:{source}"]

    def _args(self, limit: int) -> list[float]:
        s = self._settings
        return [limit, s.lockout_s * 1000, s.lockout_max_s * 1000, s.forget_after_s * 1000]

    async def admit(self, username: str, source: str) -> None:
        """Count an attempt on the account, or raise :class:`LoginLocked` (429,
        ``Retry-After``) while the account or the source is locked."""
        keys = self._keys(username, source)
        remaining_ms, which = await self._admit(
            keys=keys, args=self._args(self._settings.max_failures)
        )
        if int(which) < 0:
            return
        retry_after = max(1, math.ceil(int(remaining_ms) / 1000))
        reason = "account_locked" if int(which) == 0 else "source_locked"
        what = "this account" if reason == "account_locked" else "this address"
        raise LoginLocked(
            f"too many failed logins for {what}; try again in {retry_after} s",
            field="username" if reason == "account_locked" else None,
            details={"reason": reason, "retry_after_s": retry_after},
            retry_after_s=retry_after,
        )

    async def failed(self, source: str) -> float:
        """Count a failed attempt against its source; the lock it started in seconds (0: none)."""
        key = self._keys("", source)[1]
        lock_ms = await self._fail(keys=[key], args=self._args(self._settings.source_max_failures))
        return int(lock_ms) / 1000

    async def succeeded(self, username: str) -> None:
        """A right password: the account's failures are forgotten."""
        await self._redis.delete(self._keys(username, "")[0])
