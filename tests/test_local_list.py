"""The local authorization list: SendLocalList rules, limits, atomicity, persistence, and
how the Authorizer combines it with the cache (OCPP 1.6 sections 3.5, 5.10, 5.15)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.authorization import Authorizer, AuthResult
from agent.local_list import ListEntry, LocalList, UpdateStatus
from agent.runtime_settings.configuration import Configuration
from agent.session.model import AuthStatus
from agent.store import ChargerState, Database

from .test_authorization import Backend

REPO = Path(__file__).resolve().parent.parent
ACCEPTED, BLOCKED, EXPIRED, INVALID = AuthStatus.ACCEPTED, AuthStatus.BLOCKED, AuthStatus.EXPIRED, AuthStatus.INVALID
OK, FAILED, MISMATCH = UpdateStatus.ACCEPTED, UpdateStatus.FAILED, UpdateStatus.VERSION_MISMATCH
FUTURE, PAST = "2099-01-01T00:00:00Z", "2001-01-01T00:00:00Z"


def item(id_tag: str, status: str | None = "Accepted", parent: str | None = None, expiry: str | None = None) -> dict[str, Any]:
    """One localAuthorizationList entry as the OCPP library hands it to the handler."""
    if status is None:
        return {"id_tag": id_tag}
    info: dict[str, Any] = {"status": status}
    if parent is not None:
        info["parent_id_tag"] = parent
    if expiry is not None:
        info["expiry_date"] = expiry
    return {"id_tag": id_tag, "id_tag_info": info}


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path)
    database.open()
    yield database
    database.close()


@pytest.fixture
def local(db) -> LocalList:
    return LocalList(db)


async def send(
    local: LocalList, update_type: str, version: int, entries: list[dict[str, Any]] | None,
    max_length: int = 100, max_request: int = 50,
) -> UpdateStatus:
    return await local.update(update_type, version, entries, max_length=max_length, max_request=max_request)


def snapshot(local: LocalList) -> tuple[int, list[ListEntry]]:
    return local.version(), local.entries()


# ---------------------------------------------------------------- versions and updates


async def test_a_list_never_set_is_empty_with_version_0(local):
    assert await local.current_version() == 0
    assert await local.lookup("04A1B2C3") is None


async def test_full_replaces_the_list_and_sets_its_version(local):
    assert await send(local, "Full", 3, [item("AAA"), item("BBB", "Blocked")]) is OK
    assert await send(local, "Full", 7, [item("CCC", parent="FLEET", expiry=FUTURE)]) is OK
    assert await local.current_version() == 7
    assert await local.lookup("AAA") is None and await local.lookup("BBB") is None
    assert await local.lookup("CCC") == ListEntry("CCC", ACCEPTED, "FLEET", "2099-01-01T00:00:00.000Z")


async def test_a_full_update_may_go_back_to_a_lower_version(local):
    # Only a differential update is refused for its version (UpdateStatus VersionMismatch).
    assert await send(local, "Full", 9, [item("AAA")]) is OK
    assert await send(local, "Full", 4, [item("BBB")]) is OK
    assert await local.current_version() == 4


@pytest.mark.parametrize("entries", [None, []], ids=["omitted", "empty"])
async def test_an_empty_full_update_clears_the_list_and_version_0_says_so(local, entries):
    # TC_042_2: a Full update with listVersion 1 and no list, then GetLocalListVersion is 0.
    assert await send(local, "Full", 5, [item("AAA")]) is OK
    assert await send(local, "Full", 1, entries) is OK
    assert await local.current_version() == 0
    assert await local.lookup("AAA") is None


async def test_differential_adds_updates_and_removes(local):
    assert await send(local, "Full", 2, [item("AAA"), item("BBB"), item("CCC")]) is OK
    changes = [item("AAA", "Blocked"), item("BBB", None), item("DDD", parent="P")]
    assert await send(local, "Differential", 5, changes) is OK
    assert await local.current_version() == 5
    assert [(e.id_tag, e.status, e.parent_id_tag) for e in local.entries()] == [
        ("AAA", BLOCKED, None), ("CCC", ACCEPTED, None), ("DDD", ACCEPTED, "P"),
    ]


async def test_removing_an_idtag_that_is_not_listed_is_harmless(local):
    assert await send(local, "Full", 1, [item("AAA")]) is OK
    assert await send(local, "Differential", 2, [item("ZZZ", None)]) is OK
    assert snapshot(local) == (2, [ListEntry("AAA", ACCEPTED)])


@pytest.mark.parametrize("version", [5, 4, 0], ids=["equal", "lower", "zero"])
async def test_a_differential_update_must_raise_the_version(local, version):
    # TC_043_2: VersionMismatch when the version is less than or equal to the current one.
    assert await send(local, "Full", 5, [item("AAA")]) is OK
    before = snapshot(local)
    assert await send(local, "Differential", version, [item("BBB")]) is MISMATCH
    assert snapshot(local) == before


async def test_a_differential_update_without_entries_changes_only_the_version(local):
    assert await send(local, "Full", 2, [item("AAA")]) is OK
    assert await send(local, "Differential", 3, None) is OK
    assert snapshot(local) == (3, [ListEntry("AAA", ACCEPTED)])


async def test_a_differential_that_empties_the_list_leaves_version_0(local):
    assert await send(local, "Full", 2, [item("AAA")]) is OK
    assert await send(local, "Differential", 3, [item("AAA", None)]) is OK
    assert snapshot(local) == (0, [])
    # The backend reads 0 and goes on from there.
    assert await send(local, "Differential", 1, [item("BBB")]) is OK
    assert snapshot(local) == (1, [ListEntry("BBB", ACCEPTED)])


async def test_idtags_are_case_insensitive(local):
    assert await send(local, "Full", 1, [item("04a1b2c3")]) is OK
    assert (await local.lookup("04A1B2C3")).id_tag == "04a1b2c3"
    assert await send(local, "Differential", 2, [item("04A1B2C3", "Blocked")]) is OK
    assert local.entries() == [ListEntry("04A1B2C3", BLOCKED)]
    assert await send(local, "Differential", 3, [item("04a1B2c3", None)]) is OK
    assert local.entries() == []


async def test_an_expired_entry_is_looked_up_as_expired(local):
    assert await send(local, "Full", 1, [item("OLD", expiry=PAST), item("NEW", expiry="2099-01-01T02:00:00+02:00")]) is OK
    assert (await local.lookup("OLD")).status is EXPIRED
    new = await local.lookup("NEW")
    assert new.status is ACCEPTED and new.expiry == "2099-01-01T00:00:00.000Z"  # kept in UTC


# ---------------------------------------------------------------- refusals: Failed, nothing changed


@pytest.mark.parametrize(
    ("update_type", "version", "entries"),
    [
        ("Full", 3, [item("AAA"), item("BBB"), item("aaa", "Blocked")]),  # the same idTag twice
        ("Differential", 3, [item("AAA"), item("AAA", None)]),
        ("Full", 3, [item("AAA"), item("BBB", None)]),  # a Full entry without idTagInfo
        ("Full", 3, [item("AAA", expiry="next tuesday")]),  # unreadable expiryDate
        ("Differential", 3, [item("AAA", expiry="2030-13-45T00:00:00Z")]),
        ("Full", -1, [item("AAA")]),  # negative version
        ("Full", 0, [item("AAA")]),  # 0 is the empty list's version
        ("Full", 3, [{"id_tag": "  "}]),  # no idTag at all
    ],
    ids=["duplicate", "duplicate-diff", "full-without-info", "bad-expiry", "bad-expiry-diff", "negative",
         "zero-non-empty", "blank-idtag"],
)
async def test_a_request_the_spec_forbids_fails_and_changes_nothing(local, update_type, version, entries):
    assert await send(local, "Full", 2, [item("KEEP")]) is OK
    before = snapshot(local)
    assert await send(local, update_type, version, entries) is FAILED
    assert snapshot(local) == before


async def test_more_entries_than_send_local_list_max_length_fail(local):
    assert await send(local, "Full", 1, [item("KEEP")]) is OK
    entries = [item(f"T{i}") for i in range(4)]
    assert await send(local, "Full", 2, entries, max_request=3) is FAILED
    assert await send(local, "Differential", 2, entries, max_request=3) is FAILED
    assert snapshot(local) == (1, [ListEntry("KEEP", ACCEPTED)])
    assert await send(local, "Full", 2, entries, max_request=4) is OK


async def test_a_list_longer_than_local_auth_list_max_length_fails(local):
    assert await send(local, "Full", 1, [item(f"T{i}") for i in range(3)], max_length=3) is OK
    before = snapshot(local)
    assert await send(local, "Full", 2, [item(f"U{i}") for i in range(4)], max_length=3) is FAILED
    assert await send(local, "Differential", 2, [item("T9")], max_length=3) is FAILED
    assert snapshot(local) == before
    # Removing and adding in one differential update counts the result, not the request.
    assert await send(local, "Differential", 2, [item("T0", None), item("T9")], max_length=3) is OK
    assert [e.id_tag for e in local.entries()] == ["T1", "T2", "T9"]


# ---------------------------------------------------------------- persistence and atomicity


async def test_the_list_survives_a_restart(tmp_path):
    first = Database(tmp_path)
    first.open()
    assert await send(LocalList(first), "Full", 12, [item("AAA", parent="P", expiry=FUTURE), item("BBB", "Invalid")]) is OK
    first.close()
    again = Database(tmp_path)
    again.open()
    try:
        reopened = LocalList(again)
        assert reopened.version() == 12
        assert reopened.entries() == [
            ListEntry("AAA", ACCEPTED, "P", "2099-01-01T00:00:00.000Z"), ListEntry("BBB", INVALID),
        ]
    finally:
        again.close()


# Rewrites the whole list over and over, alternating Full and Differential updates, each
# entry marked with the version it was written for; stderr says which versions committed.
_WRITER = """
import sys
from pathlib import Path
from agent.local_list import ListEntry, ListUpdate, LocalList
from agent.session.model import AuthStatus
from agent.store import Database

db = Database(Path(sys.argv[1]))
db.open()
local = LocalList(db)
size = int(sys.argv[2])
version = local.version()
while True:
    version += 1
    changes = tuple(
        (f"TAG{i:05d}", ListEntry(f"TAG{i:05d}", AuthStatus.ACCEPTED, f"V{version}")) for i in range(size)
    )
    status = local.apply(ListUpdate(version % 2 == 1, version, changes), size)
    print(version, status.value, file=sys.stderr, flush=True)
"""


def test_a_kill_mid_update_leaves_the_old_list_or_the_new_one(tmp_path):
    size = 3000
    rng = random.Random(1234)
    committed = 0
    for _ in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), str(size)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            first = writer.stderr.readline().split()  # type: ignore[union-attr]
            assert first[1:] == ["Accepted"], first
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        reported = [line.split() for line in writer.stderr.read().splitlines()]  # type: ignore[union-attr]
        last_reported = int((reported[-1] if reported else first)[0])
        db = Database(tmp_path)
        db.open()
        try:
            local = LocalList(db)
            version, entries = local.version(), local.entries()
        finally:
            db.close()
        # What was reported committed is there (or the one after it, killed before reporting) ...
        assert version in (last_reported, last_reported + 1) and version > committed
        # ... and it is whole: every entry of that version, none of another.
        assert len(entries) == size
        assert {e.parent_id_tag for e in entries} == {f"V{version}"}
        committed = version


# ---------------------------------------------------------------- the Authorizer with the list


@pytest.fixture
def make(db):
    state = ChargerState(db)

    def build(**keys: object) -> Authorizer:
        return Authorizer(Configuration(keys, state, 1), db, state)

    return build, state


async def listed(authorizer: Authorizer, *entries: dict[str, Any]) -> None:
    status = await authorizer.local_list.update("Full", 1, list(entries), max_length=10, max_request=10)
    assert status is OK


@pytest.mark.parametrize(
    ("name", "keys", "entry", "cache", "backend", "expected", "asked"),
    [
        ("pre-authorize from the list skips the backend", {"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False},
         item("TAG", parent="P"), None, Backend(True, AuthResult(INVALID)), ACCEPTED, False),
        ("the list wins over a blocked cache entry", {"LocalPreAuthorize": True},
         item("TAG"), "Blocked", Backend(True, AuthResult(INVALID)), ACCEPTED, False),
        ("a blocked list entry wins over an accepted cache entry", {"LocalPreAuthorize": True},
         item("TAG", "Blocked"), "Accepted", Backend(False), INVALID, False),
        ("online without pre-authorize asks the backend", {},
         item("TAG"), None, Backend(True, AuthResult(BLOCKED)), BLOCKED, True),
        ("a blocked list entry is asked about online", {"LocalPreAuthorize": True},
         item("TAG", "Blocked"), None, Backend(True, AuthResult(ACCEPTED)), ACCEPTED, True),
        ("offline, listed, LocalAuthorizeOffline", {"AuthorizationCacheEnabled": False},
         item("TAG"), None, Backend(False), ACCEPTED, False),
        ("offline, listed, not allowed offline", {"LocalAuthorizeOffline": False},
         item("TAG"), None, Backend(False), INVALID, False),
        ("backend silent counts as offline", {}, item("TAG"), None, Backend(True, None), ACCEPTED, True),
        ("offline, blocked on the list, unknown ids allowed", {"AllowOfflineTxForUnknownId": True},
         item("TAG", "Blocked"), None, Backend(False), INVALID, False),
        ("offline, invalid on the list, unknown ids allowed", {"AllowOfflineTxForUnknownId": True},
         item("TAG", "Invalid"), None, Backend(False), INVALID, False),
        ("offline, expired by time on the list, unknown ids allowed", {"AllowOfflineTxForUnknownId": True},
         item("TAG", expiry=PAST), None, Backend(False), INVALID, False),
        ("offline, not listed, unknown ids allowed", {"AllowOfflineTxForUnknownId": True},
         item("OTHER"), None, Backend(False), ACCEPTED, False),
        ("a disabled list is not consulted", {"LocalAuthListEnabled": False, "LocalPreAuthorize": True},
         item("TAG"), None, Backend(False), INVALID, False),
        ("a disabled list leaves the cache in charge", {"LocalAuthListEnabled": False},
         item("TAG", "Blocked"), "Accepted", Backend(False), ACCEPTED, False),
    ],
)
async def test_decision_with_the_list(make, name, keys, entry, cache, backend, expected, asked):
    build, state = make
    authorizer = build(**keys)
    await listed(authorizer, entry)
    if cache:
        state.cache_authorization("TAG", cache, None, None)
    result = await authorizer.decide("TAG", backend)
    assert result.status is expected, name
    assert (backend.asked == ["TAG"]) is asked, name


async def test_a_list_entry_gives_its_parent_for_stopping_by_group(make):
    build, _ = make
    authorizer = build(LocalPreAuthorize=True)
    await listed(authorizer, item("TAG", parent="FLEET-7", expiry=FUTURE))
    assert await authorizer.decide("TAG", Backend(False)) == AuthResult(ACCEPTED, "FLEET-7", "2099-01-01T00:00:00.000Z")


async def test_a_listed_idtag_is_never_cached(make):
    build, _ = make
    authorizer = build()
    await listed(authorizer, item("tag"))
    answer = await authorizer.decide("TAG", Backend(True, AuthResult(ACCEPTED, "P")))
    assert answer.status is ACCEPTED
    await authorizer.remember("TAG", AuthResult(BLOCKED))  # a StartTransaction answer
    assert await authorizer.cached("TAG") is None
    # Unlisted cards are cached as before.
    await authorizer.decide("OTHER", Backend(True, AuthResult(ACCEPTED)))
    assert (await authorizer.cached("OTHER")).status is ACCEPTED


async def test_a_list_update_drops_cache_entries_of_the_idtags_it_lists(make):
    build, state = make
    authorizer = build()
    state.cache_authorization("TAG", "Accepted", None, None)
    state.cache_authorization("OTHER", "Accepted", None, None)
    await listed(authorizer, item("tag", "Blocked"))
    assert await authorizer.cached("TAG") is None
    assert (await authorizer.cached("OTHER")).status is ACCEPTED
    # Taken off the list, the card is unknown again: offline it is refused.
    assert await authorizer.local_list.update("Full", 2, None, max_length=10, max_request=10) is OK
    assert (await authorizer.decide("TAG", Backend(False))).status is INVALID
