"""Block K, Smart Charging: SetChargingProfile, GetChargingProfiles, ClearChargingProfile,
GetCompositeSchedule and the TxProfile a RequestStartTransaction brings, as a mixin of
:class:`agent.ocpp201.handlers.Handlers`.

The profiles live in the limit core (``runtime.limits``), the same one 1.6 feeds: a
profile is checked and installed by the core's rules, and only 2.0.1's words are
translated here (evseId, the charger's string transactionId, ChargingStationMaxProfile,
StatusInfo reason codes). A charger that does not offer SmartCharging answers these
requests CALLERROR NotSupported (``Handlers.declined``); one offering it with
SmartChargingCtrlr.Enabled false refuses them with reasonCode NotEnabled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import clock
from ..charger import profile_limits
from ..charging_profiles import Profile, Purpose, RateUnit
from ..store import StoreError
from .charging import ProfileError, composite_answer, duplicate_of, parse_profile, profile_type, purpose_of
from .charging_limits import EMS, external_profiles

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

#: The backend's requests of block K this charger answers (declined when SmartCharging is not offered).
SMART_CHARGING_ACTIONS = frozenset({
    "ClearChargingProfile", "GetChargingProfiles", "GetCompositeSchedule", "SetChargingProfile"})
#: The longest composite schedule answered: a month.
COMPOSITE_MAX_S = 31 * 86_400
#: Profiles per ReportChargingProfiles message.
REPORT_PAGE = 16
#: Who set the profiles a backend installed (K09: the CSMS's own are CSO).
CSO = "CSO"


def info(reason: str, detail: str = "") -> dict[str, str]:
    """A StatusInfo: a reason code (at most 20 characters) and a few words why."""
    out = {"reason_code": reason[:20]}
    if detail:
        out["additional_info"] = detail[:512]
    return out


def _reason_for(why: str) -> str:
    """A reasonCode for one of the core's refusals (a sentence a technician reads)."""
    if "stack_level" in why:
        return "InvalidStackLevel"
    if "period" in why or "schedule" in why:
        return "InvalidSchedule"
    if "more than the" in why and "profiles" in why:
        return "TooManyProfiles"
    return "InvalidProfile"


class SmartChargingHandlers:
    """Block K's requests; mixed into ``Handlers``, whose session and runtime it uses."""

    session: Ocpp201Link
    runtime: ChargerRuntime

    if TYPE_CHECKING:
        def after_reply(self, callback: Any) -> None: ...

    def _smart_enabled(self) -> bool:
        return self.session.config.bool("SmartChargingCtrlr.Enabled")

    # ------------------------------------------------------------ K01
    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        raw_id = charging_profile.get("id")
        if not self._smart_enabled():
            return self._refuse(raw_id, evse_id, "NotEnabled", "SmartChargingCtrlr.Enabled is false")
        if evse_id != 0 and evse_id not in self.runtime.numbers:
            return self._refuse(raw_id, evse_id, "UnknownEvse",
                                f"EVSE {evse_id} does not exist (this charger has EVSEs 1 to {len(self.runtime.numbers)})")
        try:
            parsed = parse_profile(charging_profile, evse_id)
        except ProfileError as exc:
            return self._refuse(raw_id, evse_id, exc.reason, str(exc))
        except (ValueError, KeyError) as exc:
            return self._refuse(raw_id, evse_id, "InvalidProfile", str(exc))
        limits = self.runtime.limits
        profile = parsed.profile
        unit = profile.schedule.unit
        allowed = self.session_units()
        if unit not in allowed:
            return self._refuse(profile.id, evse_id, "UnsupportedRateUnit",
                                f"rate unit {unit.value} is not accepted here (SmartChargingCtrlr.RateUnit: "
                                f"{','.join(sorted(u.value for u in allowed))})")
        if profile.purpose is Purpose.TX:
            resolved = await self._transaction_of(profile, parsed.transaction_uid)
            if isinstance(resolved, tuple):
                return self._refuse(profile.id, evse_id, *resolved)
            profile = resolved
        elif parsed.transaction_uid is not None:
            return self._refuse(profile.id, evse_id, "InvalidProfile",
                                f"transactionId is only for a TxProfile, not a {charging_profile['charging_profile_purpose']}")
        other = duplicate_of(profile, limits.profiles, clock.current().now())
        if other is not None:
            return self._refuse(profile.id, evse_id, "DuplicateProfile",
                                f"charging profile {other.id} has the same purpose and stack level here "
                                "with an overlapping validity")
        try:
            why = await limits.install(profile, by_level=False)  # duplicates were refused above
        except StoreError as exc:
            log.error("set charging profile: the state database refused it", profile_id=profile.id, error=str(exc))
            return self._refuse(profile.id, evse_id, "InternalError", "the profile could not be stored")
        if why is not None:
            return self._refuse(profile.id, evse_id, _reason_for(why), why)
        log.info("set charging profile", profile_id=profile.id, evse=evse_id, purpose=profile.purpose.value,
                 stack_level=profile.stack_level, answer="Accepted")
        return call_result.SetChargingProfile(status="Accepted")

    def session_units(self) -> frozenset[RateUnit]:
        """The rate units a schedule may use (ChargingScheduleAllowedChargingRateUnit,
        SmartChargingCtrlr.RateUnit in 2.0.1): the core's own reading of the setting."""
        return profile_limits(self.session.config).allowed_units

    async def _transaction_of(self, profile: Profile, uid: str | None) -> Profile | tuple[str, str]:
        """The TxProfile bound to the core's number for the transaction its transactionId
        names, or (reasonCode, why) when it names none running on its EVSE."""
        if profile.connector == 0:
            return "InvalidProfile", "a TxProfile belongs to one transaction: EVSE 0 has none (K01.FR.16)"
        running = self.runtime.local_tx.get(profile.connector)
        if uid is None:
            if running is None:
                return "NoTransaction", f"a TxProfile needs a running transaction: EVSE {profile.connector} has none"
            return "InvalidProfile", "a TxProfile must name its transaction (transactionId)"
        record = await self.runtime.db.run(self.runtime.journal.by_uid, uid)
        if record is None or record.stopped_at is not None:
            return "TxNotFound", f"transaction {uid[:36]} is not running on this charger"
        if record.local_id != running:
            return "TxNotFound", f"transaction {uid[:36]} is not running on EVSE {profile.connector}"
        return replace(profile, transaction_id=record.local_id)

    def _refuse(self, profile_id: object, evse_id: int, reason: str, why: str) -> Any:
        log.warning("set charging profile rejected", profile_id=profile_id, evse=evse_id, reason=reason, why=why)
        return call_result.SetChargingProfile(status="Rejected", status_info=info(reason, why))

    # ------------------------------------------------------------ K05: RequestStartTransaction's TxProfile
    def _start_profile(self, raw: dict[str, Any], evse_id: int | None) -> tuple[Profile | None, tuple[str, str] | None]:
        """The TxProfile a RequestStartTransaction brings (K05: a TxProfile without a
        transactionId, the transaction does not exist yet), or (reasonCode, why) it is
        refused. Ignored (None, None) when smart charging is not offered or not enabled
        (TC_K_38_CS)."""
        if not self.session.config.offers("SmartCharging") or not self._smart_enabled():
            log.info("remote start: its charging profile is ignored (smart charging is off)")
            return None, None
        try:
            parsed = parse_profile(raw, evse_id or 0)
        except ProfileError as exc:
            return None, (exc.reason, str(exc))
        except (ValueError, KeyError) as exc:
            return None, ("InvalidProfile", str(exc))
        profile = parsed.profile
        if profile.purpose is not Purpose.TX:
            return None, ("InvalidProfile", f"a remote start takes a TxProfile, not a {raw['charging_profile_purpose']}")
        if parsed.transaction_uid is not None:
            return None, ("InvalidProfile", "a remote start's TxProfile cannot name a transaction: it has not started")
        if profile.schedule.unit not in self.session_units():
            return None, ("UnsupportedRateUnit", f"rate unit {profile.schedule.unit.value} is not accepted here")
        why = self.runtime.limits.refusal_at_start(replace(profile, connector=evse_id or self.runtime.numbers[0]))
        return profile, None if why is None else (_reason_for(why), why)

    # ------------------------------------------------------------ K08
    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str | None = None,
                                        **_: Any) -> Any:
        if evse_id != 0 and evse_id not in self.runtime.numbers:
            return call_result.GetCompositeSchedule(status="Rejected", status_info=info(
                "UnknownEvse", f"EVSE {evse_id} does not exist"))
        allowed = self.session_units()
        if charging_rate_unit is not None:
            unit = RateUnit(charging_rate_unit)
            if unit not in allowed:
                return call_result.GetCompositeSchedule(status="Rejected", status_info=info(
                    "UnsupportedRateUnit", f"rate unit {unit.value} is not supported here"))
        else:
            unit = RateUnit.AMPS if RateUnit.AMPS in allowed or not allowed else next(iter(allowed))
        if duration < 0:
            return call_result.GetCompositeSchedule(status="Rejected", status_info=info(
                "InvalidValue", f"duration {duration} s is negative"))
        limits = self.runtime.limits
        start = clock.current().now().replace(microsecond=0)
        # Off the event loop: a long horizon over many recurring profiles takes a while.
        composite = await asyncio.to_thread(limits.composite, evse_id, start, min(duration, COMPOSITE_MAX_S), unit)
        schedule = composite_answer(composite, limits.maximum(evse_id, unit), limits.electrical.phases)
        log.info("get composite schedule", evse=evse_id, duration=duration, unit=unit.value,
                 periods=len(composite.periods))
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)

    # ------------------------------------------------------------ K09
    @on(Action.get_charging_profiles)
    async def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                       evse_id: int | None = None, **_: Any) -> Any:
        sources = charging_profile.get("charging_limit_source")
        ids = charging_profile.get("charging_profile_id")
        purpose = charging_profile.get("charging_profile_purpose")
        level = charging_profile.get("stack_level")
        wanted = None if purpose is None else purpose_of(purpose)

        def asked(p: Profile) -> bool:
            return ((evse_id is None or p.connector == evse_id) and (ids is None or p.id in ids)
                    and (wanted is None or p.purpose is wanted) and (level is None or p.stack_level == level))

        limits = self.runtime.limits
        found: list[tuple[str, Profile]] = []
        if sources is None or CSO in sources:  # every profile held was set by the backend
            found += [(CSO, p) for p in limits.profiles if asked(p)]
        if sources is None or EMS in sources:  # K12: the site limit, as external constraints
            found += [(EMS, p) for p in external_profiles(limits.decisions(), clock.current().now()) if asked(p)]
        if not found:
            log.info("get charging profiles", request_id=request_id, found=0)
            return call_result.GetChargingProfiles(status="NoProfiles")
        uids = await self._transaction_uids()
        pages = report_pages(request_id, found, uids)
        self.after_reply(lambda: self.session.send_later("ReportChargingProfiles", pages))
        log.info("get charging profiles", request_id=request_id, found=len(found), messages=len(pages))
        return call_result.GetChargingProfiles(status="Accepted")

    async def _transaction_uids(self) -> dict[int, str]:
        """The charger's ids (2.0.1 transactionId) of the running transactions, by the core's number."""
        records = await self.runtime.db.run(self.runtime.journal.open_transactions)
        return {r.local_id: r.tx_uid for r in records if r.tx_uid is not None}

    # ------------------------------------------------------------ K10
    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                        charging_profile_criteria: dict[str, Any] | None = None, **_: Any) -> Any:
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        wanted = None if purpose is None else purpose_of(purpose)
        if charging_profile_id is None and wanted is Purpose.EXTERNAL:
            # K10.FR.?: external constraints are the energy manager's to lift, not the CSMS's.
            return call_result.ClearChargingProfile(status="Unknown", status_info=info(
                "InvalidProfile", "ChargingStationExternalConstraints are not cleared by the CSMS"))
        try:
            removed = await self.runtime.limits.clear(
                profile_id=charging_profile_id,
                connector=None if charging_profile_id is not None else criteria.get("evse_id"),
                purpose=None if charging_profile_id is not None else wanted,
                stack_level=None if charging_profile_id is not None else criteria.get("stack_level"),
            )
        except StoreError as exc:
            log.error("clear charging profile: the state database refused it", error=str(exc))
            return call_result.ClearChargingProfile(status="Unknown", status_info=info(
                "InternalError", "nothing was cleared: the state database refused the change"))
        status = "Accepted" if removed else "Unknown"
        log.info("clear charging profile", profile_id=charging_profile_id, criteria=criteria or None, answer=status,
                 removed=[p.id for p in removed])
        return call_result.ClearChargingProfile(status=status)


def report_pages(request_id: int, profiles: list[tuple[str, Profile]], uids: Mapping[int, str]) -> list[dict[str, Any]]:
    """ReportChargingProfiles payloads (K09) for (chargingLimitSource, profile) pairs: a
    message names one source and one EVSE, and carries at most :data:`REPORT_PAGE`
    profiles; tbc on all but the last."""
    groups: dict[tuple[str, int], list[Profile]] = {}
    for source, p in sorted(profiles, key=lambda item: (item[0], item[1].connector, item[1].id)):
        groups.setdefault((source, p.connector), []).append(p)
    pages: list[dict[str, Any]] = []
    for (source, evse), group in groups.items():
        for i in range(0, len(group), REPORT_PAGE):
            chunk = group[i:i + REPORT_PAGE]
            pages.append({
                "request_id": request_id,
                "charging_limit_source": source,
                "evse_id": evse,
                "charging_profile": [
                    profile_type(p, None if p.transaction_id is None else uids.get(p.transaction_id)) for p in chunk],
                "tbc": True,
            })
    pages[-1]["tbc"] = False
    return pages
