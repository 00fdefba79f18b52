"""How the test CSMS answers: boot status, intervals, its clock and the id-token table.

One policy serves 1.6 and 2.0.1 charge points alike, so a test sets an answer once and
gets it in both versions: a token entry is kept version-neutral and written out as a 1.6
``idTagInfo`` or a 2.0.1 ``idTokenInfo`` when an answer needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import datatypes

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
#: OCPP 1.6 AuthorizationStatus.
ID_TAG_STATUSES_V16 = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
#: OCPP 2.0.1 AuthorizationStatusEnumType: every 1.6 status and more.
ID_TAG_STATUSES = (
    *ID_TAG_STATUSES_V16,
    "NoCredit", "NotAllowedTypeEVSE", "NotAtThisLocation", "NotAtThisTime", "Unknown",
)
#: 2.0.1 idToken strings are up to 36 characters (1.6 idTags up to 20).
MAX_ID_TOKEN = 36
MAX_MESSAGE = 512


@dataclass(frozen=True)
class IdTokenEntry:
    """What the backend says about one token, in either version."""

    status: str
    parent_id_tag: str | None = None
    expiry_date: str | None = None
    group_id_token: str | None = None
    cache_expiry_date_time: str | None = None
    personal_message: str | None = None

    def v16(self) -> datatypes.IdTagInfo:
        """1.6 ``idTagInfo``. A status 1.6 lacks (NoCredit, Unknown, ...) is Invalid there:
        the 1.6 answer closest to "not allowed to charge"."""
        status = self.status if self.status in ID_TAG_STATUSES_V16 else "Invalid"
        return datatypes.IdTagInfo(
            status=status, parent_id_tag=self.parent_id_tag, expiry_date=self.expiry_date
        )

    def v201(self) -> dict[str, Any]:
        """2.0.1 ``idTokenInfo`` (camelCase, as on the wire); 1.6 fields stand in for
        missing 2.0.1 ones (parent tag: a Central group token; expiry date: cache expiry)."""
        info: dict[str, Any] = {"status": self.status}
        expiry = self.cache_expiry_date_time or self.expiry_date
        if expiry is not None:
            info["cacheExpiryDateTime"] = expiry
        group = self.group_id_token or self.parent_id_tag
        if group is not None:
            info["groupIdToken"] = {"idToken": group, "type": "Central"}
        if self.personal_message is not None:
            info["personalMessage"] = {"format": "UTF8", "content": self.personal_message}
        return info


ACCEPTED = IdTokenEntry(status="Accepted")


@dataclass
class Policy:
    """How this backend answers; changed at runtime through the control channel."""

    heartbeat_interval: int = 300
    boot_status: str = "Accepted"
    boot_retry_interval: int = 10
    id_tags: dict[str, IdTokenEntry] = field(default_factory=dict)
    #: Seconds added to the time this backend tells (currentTime), to play a backend
    #: whose clock a charger without a synchronised clock must follow.
    clock_offset_s: float = 0.0
    #: A fixed currentTime, told as it is (even an implausible one, to test a charger's checks).
    fixed_time: str | None = None

    def current_time(self) -> str:
        if self.fixed_time is not None:
            return self.fixed_time
        moment = datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def boot_reply(self) -> tuple[str, int]:
        """Status and interval for a BootNotification answer."""
        if self.boot_status == "Accepted":
            return self.boot_status, self.heartbeat_interval
        return self.boot_status, self.boot_retry_interval

    def set_boot(self, status: str, interval: int | None = None) -> None:
        if status not in BOOT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(BOOT_STATUSES)}, not {status!r}")
        if interval is not None:
            _check_interval(interval)
            if status == "Accepted":
                self.heartbeat_interval = interval
            else:
                self.boot_retry_interval = interval
        self.boot_status = status

    def restore(self, other: Policy) -> None:
        """Take every setting of ``other`` (in place: sessions hold this object)."""
        self.heartbeat_interval = other.heartbeat_interval
        self.boot_status = other.boot_status
        self.boot_retry_interval = other.boot_retry_interval
        self.id_tags = dict(other.id_tags)
        self.clock_offset_s = other.clock_offset_s
        self.fixed_time = other.fixed_time

    def set_heartbeat_interval(self, interval: int) -> None:
        _check_interval(interval)
        self.heartbeat_interval = interval

    def set_id_tag(
        self,
        id_tag: str,
        status: str,
        parent_id_tag: str | None = None,
        expiry_date: str | None = None,
        group_id_token: str | None = None,
        cache_expiry_date_time: str | None = None,
        personal_message: str | None = None,
    ) -> None:
        """One token's answer. ``id_tag`` may be a 2.0.1 idToken (up to 36 characters);
        a 1.6 charge point cannot send one longer than 20, so such an entry is 2.0.1's."""
        if not isinstance(id_tag, str) or not 0 < len(id_tag) <= MAX_ID_TOKEN:
            raise ValueError(
                f"id_tag must be a string of 1 to {MAX_ID_TOKEN} characters, not {id_tag!r}"
            )
        if status not in ID_TAG_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ID_TAG_STATUSES)}, not {status!r}")
        for name, value, limit in (
            ("parent_id_tag", parent_id_tag, None),
            ("expiry_date", expiry_date, None),
            ("group_id_token", group_id_token, MAX_ID_TOKEN),
            ("cache_expiry_date_time", cache_expiry_date_time, None),
            ("personal_message", personal_message, MAX_MESSAGE),
        ):
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {value!r}")
            if limit is not None and not 0 < len(value) <= limit:
                raise ValueError(f"{name} must be 1 to {limit} characters, not {len(value)}")
        self.id_tags[id_tag] = IdTokenEntry(
            status, parent_id_tag, expiry_date, group_id_token, cache_expiry_date_time,
            personal_message,
        )

    def id_tag_info(self, id_tag: str) -> datatypes.IdTagInfo:
        """1.6: unknown tags are Accepted, so a bench needs no setup to charge."""
        return self.id_tags.get(id_tag, ACCEPTED).v16()

    def id_token_info(self, id_token: dict[str, Any]) -> dict[str, Any]:
        """2.0.1 ``idTokenInfo`` for an ``idToken`` object: unknown tokens are Accepted, and
        so is a token of type NoAuthorization (there is nothing to authorize)."""
        if id_token.get("type") == "NoAuthorization":
            return ACCEPTED.v201()
        return self.id_tags.get(str(id_token.get("idToken", "")), ACCEPTED).v201()


def _check_interval(interval: Any) -> None:
    if type(interval) is not int or interval < 0:
        raise ValueError(f"interval must be a whole number of seconds >= 0, not {interval!r}")
