"""Authorization decisions: cache, backend, and the offline rules (OCPP 1.6 section 3.5)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from agent.authorization import Authorizer, AuthResult
from agent.runtime_settings.configuration import Configuration
from agent.session.model import AuthStatus
from agent.store import ChargerState, Database

ACCEPTED, INVALID, BLOCKED = AuthStatus.ACCEPTED, AuthStatus.INVALID, AuthStatus.BLOCKED


@dataclass
class Backend:
    """The uplink as the runtime sees it: online or not, and what Authorize answers."""

    online: bool
    answer: AuthResult | None = None
    asked: list[str] = field(default_factory=list)

    async def authorize(self, id_tag: str, token_type: str | None = None) -> AuthResult | None:
        self.asked.append(id_tag)
        return self.answer

    def wake(self) -> None:
        pass


@pytest.fixture
def make(tmp_path):
    db = Database(tmp_path)
    db.open()
    state = ChargerState(db)

    def build(**keys: object) -> Authorizer:
        return Authorizer(Configuration(keys, state, 1), db, state)

    yield build, state
    db.close()


@pytest.mark.parametrize(
    ("name", "keys", "cache", "backend", "expected", "asked"),
    [
        ("online asks the backend", {}, None, Backend(True, AuthResult(ACCEPTED, "P1")), ACCEPTED, True),
        ("online refusal stands", {}, None, Backend(True, AuthResult(BLOCKED)), BLOCKED, True),
        ("pre-authorize from cache skips the backend", {"LocalPreAuthorize": True}, "Accepted",
         Backend(True, AuthResult(INVALID)), ACCEPTED, False),
        ("pre-authorize never trusts a blocked entry", {"LocalPreAuthorize": True}, "Blocked",
         Backend(True, AuthResult(ACCEPTED)), ACCEPTED, True),
        ("offline, cached card, LocalAuthorizeOffline", {}, "Accepted", Backend(False), ACCEPTED, False),
        ("offline, cached card, not allowed offline", {"LocalAuthorizeOffline": False}, "Accepted",
         Backend(False), INVALID, False),
        ("offline, unknown card", {}, None, Backend(False), INVALID, False),
        ("offline, unknown card allowed", {"AllowOfflineTxForUnknownId": True}, None, Backend(False), ACCEPTED, False),
        ("offline, known-bad card never allowed", {"AllowOfflineTxForUnknownId": True}, "Blocked",
         Backend(False), INVALID, False),
        ("backend silent counts as offline", {}, "Accepted", Backend(True, None), ACCEPTED, True),
        ("cache disabled", {"AuthorizationCacheEnabled": False}, "Accepted", Backend(False), INVALID, False),
    ],
)
async def test_decision(make, name, keys, cache, backend, expected, asked):
    build, state = make
    if cache:
        state.cache_authorization("TAG", cache, None, None)
    result = await build(**keys).decide("TAG", backend)
    assert result.status is expected, name
    assert (backend.asked == ["TAG"]) is asked, name


@pytest.mark.parametrize(
    ("backend", "unanswered"),
    [(Backend(False), True), (Backend(True, None), True), (Backend(True, AuthResult(INVALID)), False)],
    ids=["offline", "no answer in time", "the backend refused"],
)
async def test_a_refusal_says_whether_the_backend_answered(make, backend, unanswered):
    """The screen tells "not when offline" from "unknown card" by it."""
    build, _ = make
    result = await build(LocalAuthorizeOffline=False).decide("TAG", backend)
    assert result.status is INVALID and result.unanswered is unanswered


async def test_an_expired_cache_entry_is_not_accepted(make):
    build, state = make
    state.cache_authorization("TAG", "Accepted", None, "2020-01-01T00:00:00.000Z")
    authorizer = build(LocalPreAuthorize=True)
    assert (await authorizer.cached("TAG")).status is AuthStatus.EXPIRED
    assert (await authorizer.decide("TAG", Backend(False))).status is INVALID


async def test_the_backends_answer_is_remembered_with_its_parent(make):
    build, _ = make
    authorizer = build()
    await authorizer.decide("TAG", Backend(True, AuthResult(ACCEPTED, "FLEET", "2099-01-01T00:00:00.000Z")))
    cached = await authorizer.cached("TAG")
    assert cached == AuthResult(ACCEPTED, "FLEET", "2099-01-01T00:00:00.000Z")
    await authorizer.clear_cache()
    assert await authorizer.cached("TAG") is None


@pytest.mark.parametrize(
    ("expiry", "cached_status"),
    [
        ("2099-01-01T00:00:00", ACCEPTED),  # no offset: taken as UTC
        ("2099-01-01T00:00:00+02:00", ACCEPTED),
        ("2001-01-01T00:00:00", AuthStatus.EXPIRED),
        ("next tuesday", None),  # unreadable: not cached at all
    ],
)
async def test_backend_expiry_dates_in_any_form_never_break_a_decision(make, expiry, cached_status):
    build, _ = make
    authorizer = build(LocalPreAuthorize=True)
    first = await authorizer.decide("TAG", Backend(True, AuthResult(ACCEPTED, None, expiry)))
    assert first.status is ACCEPTED
    cached = await authorizer.cached("TAG")
    assert (cached.status if cached else None) is cached_status
    again = await authorizer.decide("TAG", Backend(False))
    assert again.status is (ACCEPTED if cached_status is ACCEPTED else INVALID)


async def test_a_cache_entry_older_than_its_lifetime_is_unknown(make):
    build, state = make
    state.db.write("INSERT INTO auth_cache(id_tag, status, parent_id_tag, expiry, updated_at) "
                   "VALUES ('OLD', 'Accepted', NULL, NULL, '2020-01-01T00:00:00.000Z')")
    assert (await build().cached("OLD")).status is ACCEPTED  # LifeTime 0: entries never age out
    aging = build(**{"AuthCacheCtrlr.LifeTime": 60, "AllowOfflineTxForUnknownId": True})
    assert await aging.cached("OLD") is None
    assert (await aging.decide("OLD", Backend(False))).status is ACCEPTED  # unknown now, so allowed offline
    state.cache_authorization("NEW", "Accepted", None, None)
    assert (await aging.cached("NEW")).status is ACCEPTED


@pytest.mark.parametrize(
    ("group", "answer", "expected"),
    [
        ("MASTER", AuthResult(ACCEPTED, "MASTER"), AuthStatus.MASTER_PASS),
        ("MASTER", AuthResult(ACCEPTED, "master"), AuthStatus.MASTER_PASS),  # CiString: case does not count
        ("MASTER", AuthResult(ACCEPTED, "FLEET"), ACCEPTED),
        ("MASTER", AuthResult(BLOCKED, "MASTER"), BLOCKED),  # a refused master card is just refused
        ("", AuthResult(ACCEPTED, "MASTER"), ACCEPTED),  # no master pass group set (1.6's only case)
    ],
)
async def test_an_accepted_card_of_the_master_pass_group_is_a_master_pass(make, group, answer, expected):
    build, state = make
    authorizer = build(**{"AuthCtrlr.MasterPassGroupId": group})
    assert (await authorizer.decide("TAG", Backend(True, answer))).status is expected
    assert AuthStatus(state.cached_authorization("TAG")["status"]) is answer.status  # the backend's word is cached


async def test_a_token_other_than_a_card_is_not_cached_nor_taken_from_the_cache(make):
    """OCPP 2.0.1: a remote start's Central (KeyCode, MacAddress, ...) token is not a card:
    the backend's answer for it is not cached as one (a card with the same characters
    would then pass offline), and a card's cache entry does not answer for it."""
    build, state = make
    authorizer = build(LocalPreAuthorize=True)
    await authorizer.remember("TAG", AuthResult(ACCEPTED), "Central")
    assert await authorizer.cached("TAG") is None
    assert (await authorizer.decide("TAG", Backend(False))).status is INVALID  # the card is unknown
    state.cache_authorization("TAG", "Accepted", None, None)  # a card's entry
    backend = Backend(True, AuthResult(BLOCKED))
    assert (await authorizer.decide("TAG", backend, "Central")).status is BLOCKED
    assert backend.asked == ["TAG"]
    assert (await authorizer.cached("TAG")).status is ACCEPTED  # the card's entry stays as it was
