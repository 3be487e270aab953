"""The tests' Redis cache: `clear()` deletes only this worker's keys (its KEY_PREFIX), not the whole database, so
parallel test workers — and test runs of several checkouts on one machine — can share one Redis database."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache


class WorkerRedisCache(RedisCache):
    def clear(self) -> bool:
        client = self._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{self.key_prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
        return True
