"""The tests' Redis cache: clear() deletes this worker's keys (its KEY_PREFIX) only, not the whole database that
other test workers (and other people's runs) share."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache


class PrefixRedisCache(RedisCache):
    def clear(self) -> bool:
        client = self._cache.get_client(None, write=True)
        keys = list(client.scan_iter(match=f"{self.key_prefix}:*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return True
