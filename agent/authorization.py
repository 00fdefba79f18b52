"""Who may charge: the backend's word when it can be asked, the rules for when it cannot.

What the charger knows locally about a card is its entry in the local authorization
list when ``LocalAuthListEnabled`` (the list takes precedence, OCPP 1.6 section 3.5.3),
else its entry in the authorization cache when ``AuthorizationCacheEnabled``. A card is
then decided in this order (section 3.5):

1. ``LocalPreAuthorize`` and an Accepted, unexpired local entry: accepted at once,
   without waiting for the backend;
2. online: the backend's Authorize answer (which refreshes the cache, but never for a
   card on the list: section 3.5.3 keeps list entries out of the cache);
3. offline (or no answer): ``LocalAuthorizeOffline`` with an Accepted, unexpired local
   entry; ``AllowOfflineTxForUnknownId`` only for a card with no local entry at all (a
   card the list says is Blocked, Expired or Invalid is not unknown, section 3.5.4);
4. otherwise Invalid.

The cache and the list live in the state database, so they survive restarts. The
cache holds cards only: a token of another kind (a remote start's Central, KeyCode,
MacAddress, ... token in OCPP 2.0.1, ``token_type`` not None) is neither cached nor
looked up there, so a card with the same characters never passes for it offline. (The
list compares tokens by value, see ``agent.ocpp201.local_list``.)
"""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import structlog

from . import clock
from .local_list import LocalList
from .runtime_settings.configuration import Configuration
from .session.model import CARD, AuthStatus
from .store import ChargerState, Database, iso

log = structlog.get_logger(__name__)


def parse_expiry(text: str | None) -> datetime | None:
    """A backend's expiryDate as an aware UTC time; None when absent or unreadable.

    Backends send all sorts: with or without an offset, with or without 'Z'. A time
    without an offset is taken as UTC (OCPP timestamps are UTC).
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class AuthResult:
    status: AuthStatus
    parent_id_tag: str | None = None
    expiry: str | None = None  # ISO 8601, as the backend gave it
    #: Decided by the offline rules because the backend could not be asked or did not
    #: answer in time (a driver is told "not when offline", not "unknown card").
    unanswered: bool = field(default=False, compare=False)


class Uplink(Protocol):
    """What the charger needs from whichever protocol link is connected."""

    @property
    def online(self) -> bool: ...

    async def authorize(self, id_tag: str, token_type: str | None = CARD) -> AuthResult | None:
        """Ask the backend; None when it cannot be asked (offline, timeout)."""
        ...

    def wake(self) -> None:
        """New journal entries are waiting to be sent."""
        ...


class Offline:
    """The uplink before any protocol link is attached."""

    online = False

    async def authorize(self, id_tag: str, token_type: str | None = CARD) -> AuthResult | None:
        return None

    def wake(self) -> None:
        pass


class Authorizer:
    def __init__(
        self, config: Configuration, db: Database, state: ChargerState, local_list: LocalList | None = None
    ) -> None:
        self.config = config
        self.db = db
        self.state = state
        self.local_list = local_list if local_list is not None else LocalList(db)
        #: Told when the backend's answer contradicts the local list (OCPP 1.6 3.5.2: the
        #: charge point reports LocalListConflict); the runtime sets it.
        self.on_list_conflict: Callable[[], None] = lambda: None

    async def decide(self, id_tag: str, uplink: Uplink, token_type: str | None = CARD) -> AuthResult:
        return self._master_pass(await self._decide(id_tag, uplink, token_type))

    def _master_pass(self, result: AuthResult) -> AuthResult:
        """An accepted card of the master pass group (``AuthCtrlr.MasterPassGroupId``,
        OCPP 2.0.1 C16; empty: none, as in 1.6) is a master pass, however it was decided."""
        group = str(self.config["AuthCtrlr.MasterPassGroupId"] or "")
        parent = result.parent_id_tag
        if group and result.status is AuthStatus.ACCEPTED and parent is not None and parent.lower() == group.lower():
            return AuthResult(AuthStatus.MASTER_PASS, parent, result.expiry)
        return result

    async def _decide(self, id_tag: str, uplink: Uplink, token_type: str | None) -> AuthResult:
        local = await self.known_locally(id_tag, token_type)
        valid = local is not None and local.status is AuthStatus.ACCEPTED
        if local is not None and valid and self.config.bool("LocalPreAuthorize"):
            return local
        if uplink.online:
            answer = await uplink.authorize(id_tag, token_type)
            if answer is not None:
                await self.remember(id_tag, answer, token_type)
                return answer
        if local is not None and valid and self.config.bool("LocalAuthorizeOffline"):
            return local
        if local is None and self.config.bool("AllowOfflineTxForUnknownId"):
            return AuthResult(AuthStatus.ACCEPTED)
        return AuthResult(AuthStatus.INVALID, unanswered=True)

    async def known_locally(self, id_tag: str, token_type: str | None = CARD) -> AuthResult | None:
        """The card's local entry: the list's when it has one, else the cache's (a card's only)."""
        listed = await self.listed(id_tag)
        if listed is not None:
            return listed
        if token_type != CARD or not self.config.bool("AuthorizationCacheEnabled"):
            return None
        return await self.cached(id_tag)

    async def listed(self, id_tag: str) -> AuthResult | None:
        """The card's entry in the local list (Expired once its expiryDate passed);
        None when it has none or the list is disabled."""
        if not self.config.bool("LocalAuthListEnabled"):
            return None
        entry = await self.local_list.lookup(id_tag)
        if entry is None:
            return None
        return AuthResult(entry.status, entry.parent_id_tag, entry.expiry)

    async def cached(self, id_tag: str) -> AuthResult | None:
        """The card's cache entry (Expired once its expiry passed); None when it has none,
        or when the entry is older than ``AuthCacheCtrlr.LifeTime`` (OCPP 2.0.1 C10: an
        entry ages out of the cache; 0, the default and 1.6's only value, keeps it)."""
        row = await self.db.run(self.state.cached_authorization, id_tag)
        if row is None:
            return None
        if self._aged_out(row["updated_at"]):
            return None
        status = AuthStatus(row["status"])
        expiry = parse_expiry(row["expiry"])
        if expiry is not None and expiry < datetime.now(timezone.utc):
            status = AuthStatus.EXPIRED
        return AuthResult(status, row["parent_id_tag"], row["expiry"])

    def _aged_out(self, stored_at: str) -> bool:
        """Whether an entry the backend's answer stored at ``stored_at`` has outlived the
        cache's lifetime (stamped and judged by the charger's clock)."""
        lifetime = self.config.int("AuthCacheCtrlr.LifeTime")
        if lifetime <= 0:
            return False
        stored = parse_expiry(stored_at)
        return stored is None or clock.current().now() - stored > timedelta(seconds=lifetime)

    async def remember(self, id_tag: str, result: AuthResult, token_type: str | None = CARD) -> None:
        """Keep the backend's answer for this idTag, when the cache is enabled, the token
        is a card and it is not on the local list (the list is the backend's to change,
        not ours)."""
        listed = await self.listed(id_tag)
        if listed is not None:
            if (listed.status is AuthStatus.ACCEPTED) != (result.status is AuthStatus.ACCEPTED):
                log.warning("the backend's answer conflicts with the local list", id_tag=id_tag,
                            backend=result.status.value, local_list=listed.status.value)
                self.on_list_conflict()
            return
        if token_type != CARD or not self.config.bool("AuthorizationCacheEnabled"):
            return
        expiry = parse_expiry(result.expiry)
        if result.expiry and expiry is None:
            # Unreadable: better a card that must ask the backend again than one cached forever.
            log.warning("unreadable expiryDate from the backend; not caching", id_tag=id_tag, expiry=result.expiry)
            return
        stored = iso(expiry) if expiry is not None else None
        await self.db.run(self.state.cache_authorization, id_tag, result.status.value, result.parent_id_tag, stored)

    async def clear_cache(self) -> None:
        await self.db.run(self.state.clear_authorization_cache)
