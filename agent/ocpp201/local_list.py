"""Local authorization list management (OCPP 2.0.1 block D: D01 SendLocalList, D02
GetLocalListVersion), spelled over the core's list (:mod:`agent.local_list`).

The list, its version, its checks and its atomic updates are the core's, shared with
OCPP 1.6; this module only translates. What differs in 2.0.1:

- **Version numbers start at 1** (D01.FR.18): a SendLocalList with versionNumber 0 (or
  less) is Failed, whatever its type; and a list a Full update empties keeps the version
  it was sent with (GetLocalListVersion then says that version, not 0).
- **A disabled list** (``LocalAuthListCtrlr.Enabled`` false) is not in use: GetLocalListVersion
  answers 0 (D02.FR.03) and SendLocalList Failed (2.0.1 has no NotSupported), the list kept
  as it is for when it is enabled again.
- **idTokenInfo** stands where 1.6 has idTagInfo: its status (the 2.0.1 refusals the core
  does not know, such as NoCredit or NotAtThisTime, are kept as Invalid: the card may not
  charge), ``cacheExpiryDateTime`` as the entry's expiry, ``groupIdToken`` as its group
  (the core's parent idTag). Other fields (personal message, language, EVSE ids) are not kept.
- **The idToken's type is not kept.** The core keys the list by the token's value, as it
  does every card: the reader presents ISO14443 UIDs, and a remote start's token (whose
  type the core carries to its transaction) is looked up by its value. Tokens are
  compared by value (case-insensitively, as IdToken's CiString36 says); the same value
  sent twice with two types in one request is Failed, like any token sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from ..local_list import UpdateStatus
from ..session.model import AuthStatus

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

#: The statuses the core keeps as they are; every other 2.0.1 status is a refusal (Invalid).
_CORE_STATUSES = frozenset(s.value for s in AuthStatus if s is not AuthStatus.MASTER_PASS)


def core_entries(entries: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """2.0.1 AuthorizationData (snake_case, as the library hands them over) in the core's
    terms: ``id_tag`` and, when the entry has an idTokenInfo, ``id_tag_info``."""
    converted: list[dict[str, Any]] = []
    for raw in entries or ():
        token = raw.get("id_token") or {}
        entry: dict[str, Any] = {"id_tag": token.get("id_token")}
        info = raw.get("id_token_info")
        if info is not None:
            status = info.get("status")
            group = info.get("group_id_token") or {}
            entry["id_tag_info"] = {
                "status": status if status in _CORE_STATUSES else AuthStatus.INVALID.value,
                "expiry_date": info.get("cache_expiry_date_time"),
                "parent_id_tag": group.get("id_token"),
            }
        converted.append(entry)
    return converted


class LocalListHandlers:
    """The block's requests; a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link
    runtime: ChargerRuntime

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number: int, update_type: str,
                                 local_authorization_list: list[dict[str, Any]] | None = None, **_: Any) -> Any:
        config = self.session.config
        entries = local_authorization_list or []
        if not config.bool("LocalAuthListEnabled"):
            status, why = UpdateStatus.FAILED, "the local list is disabled (LocalAuthListCtrlr.Enabled)"
        elif version_number <= 0:
            status, why = UpdateStatus.FAILED, "versionNumber must be greater than 0 (D01.FR.18)"
        else:
            status = await self.runtime.authorizer.local_list.update(
                update_type, version_number, core_entries(entries),
                max_length=config.int("LocalAuthListMaxLength"), max_request=config.int("SendLocalListMaxLength"),
                keep_empty_version=True,
            )
            why = ""
        if status is UpdateStatus.NOT_SUPPORTED:
            status = UpdateStatus.FAILED
        log.info("send local list", update_type=update_type, version_number=version_number, entries=len(entries),
                 answer=status.value, why=why or None)
        return call_result.SendLocalList(status=status.value)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> Any:
        if not self.session.config.bool("LocalAuthListEnabled"):
            return call_result.GetLocalListVersion(version_number=0)  # D02.FR.03
        version = await self.runtime.authorizer.local_list.current_version()
        return call_result.GetLocalListVersion(version_number=version)
