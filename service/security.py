"""API keys (hashed at rest, constant-time compare), scopes, start-up refusals and per-key rate limits.

Keys are never kept in clear after start-up: the settings' keys are hashed immediately and a hashes file
holds ``scope:sha256hex`` lines (``kgr serve --hash-key KEY`` prints one). Scope ``admin`` implies ``qa``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kg.errors import AuthError, ConfigError, ForbiddenError
from kg.settings import DEFAULT_ADMIN_KEY, DEFAULT_NEO4J_PASSWORD, DEFAULT_QA_KEY, Settings
from service.errors import RateLimitedError

Scope = Literal["qa", "admin"]
SCOPES: tuple[Scope, ...] = ("qa", "admin")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_startup_secrets(settings: Settings) -> None:
    """Refuse to run with the published dev secrets when reachable from other machines."""
    if is_loopback(settings.host):
        return
    defaults = []
    if settings.admin_api_key.get_secret_value() == DEFAULT_ADMIN_KEY:
        defaults.append("KGR_ADMIN_API_KEY")
    if settings.qa_api_key.get_secret_value() == DEFAULT_QA_KEY:
        defaults.append("KGR_QA_API_KEY")
    if settings.store == "neo4j" and settings.neo4j_password.get_secret_value() == DEFAULT_NEO4J_PASSWORD:
        defaults.append("KGR_NEO4J_PASSWORD")
    if defaults:
        raise ConfigError(
            f"refusing to serve on {settings.host} with the default {', '.join(defaults)}; "
            "set your own secrets or bind to 127.0.0.1"
        )


@dataclass(frozen=True)
class Principal:
    key_id: str  # first hex digits of the key hash: names the key in logs without revealing it
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _read_hashes_file(path: Path) -> list[tuple[str, Scope]]:
    entries: list[tuple[str, Scope]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read API key hashes file {path}: {exc}") from exc
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        scope, _, digest = line.partition(":")
        digest = digest.strip().lower()
        if scope not in SCOPES or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{path}:{lineno}: expected 'qa:<sha256 hex>' or 'admin:<sha256 hex>'")
        entries.append((digest, scope))
    return entries


class KeyRing:
    """Hashes of the accepted keys with their scopes."""

    def __init__(self, entries: list[tuple[str, Scope]]) -> None:
        self._entries = [(bytes.fromhex(d), s) for d, s in entries]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        entries: list[tuple[str, Scope]] = [
            (hash_key(settings.qa_api_key.get_secret_value()), "qa"),
            (hash_key(settings.admin_api_key.get_secret_value()), "admin"),
        ]
        if settings.api_key_hashes_file is not None:
            entries += _read_hashes_file(settings.api_key_hashes_file)
        return cls(entries)

    def authenticate(self, key: str | None, needed: Scope) -> Principal:
        if not key:
            raise AuthError("missing API key (send 'Authorization: Bearer <key>' or 'X-API-Key')")
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        scopes: set[Scope] = set()
        for stored, scope in self._entries:  # no early exit: time does not depend on which key matched
            if hmac.compare_digest(stored, digest):
                scopes.add(scope)
        if not scopes:
            raise AuthError("invalid API key")
        principal = Principal(digest.hex()[:12], frozenset(scopes))
        if not principal.allows(needed):
            raise ForbiddenError(f"this API key lacks the {needed!r} scope")
        return principal


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token bucket per key: ``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: int
    burst: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key_id: str) -> None:
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / rate
        raise RateLimitedError(f"rate limit of {self.per_minute} requests/minute exceeded", wait)
