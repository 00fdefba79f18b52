"""OCPP 2.0.1 SetNetworkProfile (B09), spelled over the link's connection profiles
(:mod:`agent.link.profiles`), which decide what may be stored and what is tried when.

Accepted: the profile is stored in its slot (one durable commit) and is used once
NetworkConfigurationPriority names it, from the next reset (B10). Rejected, with a
reason, for a slot that does not exist or holds the active connection's profile, an
OCPP version or transport this charger does not speak, a URL that cannot reach a
backend at the profile's security profile, a security profile lower than the current
one (B09.FR.04, A05), missing prerequisites (a CSMS root for 2 and 3, a client
certificate for 3, a password for 1 and 2: A05, TC_A_20/21), or a VPN or APN, which this
charger cannot set up. Failed when the state database cannot take it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from ..link.profiles import ConnectionProfile
from ..store import StoreError

if TYPE_CHECKING:
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

#: How 2.0.1 names the OCPP versions a profile may ask for; this charger speaks OCPP20 only.
VERSIONS = {"OCPP12": "1.2", "OCPP15": "1.5", "OCPP16": "1.6", "OCPP20": "2.0.1"}


class NetworkProfileHandlers:
    """B09's request; a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link

    @on(Action.set_network_profile)
    async def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any],
                                     **_: Any) -> Any:
        if connection_data.get("vpn") or connection_data.get("apn"):
            return _answer("Rejected", "UnsupportedParam", "this charger cannot set up a VPN or an APN")
        profile = ConnectionProfile(
            url=str(connection_data.get("ocpp_csms_url", "")),
            security_profile=int(connection_data.get("security_profile", -1)),
            ocpp=VERSIONS.get(str(connection_data.get("ocpp_version")), "unknown"),
            message_timeout=float(connection_data.get("message_timeout", 30)),
            transport=str(connection_data.get("ocpp_transport", "")),
            interface=str(connection_data.get("ocpp_interface", "")),
            slot=configuration_slot, source="backend")
        if profile.message_timeout <= 0:
            return _answer("Rejected", "InvalidValue", "messageTimeout must be positive")
        try:
            why = await self.session.set_network_profile(profile)
        except StoreError as exc:
            log.error("could not store a connection profile", slot=configuration_slot, error=str(exc))
            return _answer("Failed", "InternalError", "the profile could not be stored")
        if why is not None:
            return _answer("Rejected", "InvalidProfile", why)
        return call_result.SetNetworkProfile(status="Accepted")


def _answer(status: str, reason: str, detail: str) -> Any:
    return call_result.SetNetworkProfile(status=status, status_info={"reason_code": reason,
                                                                      "additional_info": detail[:512]})
