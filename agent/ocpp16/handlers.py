"""Answers to the backend's OCPP 1.6 requests.

Each handler translates the request into a call on the charger runtime (neutral
terms) and the answer back. Handlers never send a CALL themselves (the reply could not
be received while they wait): work that must follow the reply, such as a triggered
message or a reset, is queued with ``after_reply``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from .. import clock, locations
from ..authorization import parse_expiry
from ..charging_profiles import Purpose, RateUnit
from .certificate_handlers import CertificateHandlers
from .own_certificate_handlers import SIGN_TRIGGER, OwnCertificateHandlers
from .charging import ProfileError, composite_answer, parse_profile
from .log_handlers import LogHandlers
from .pricing_handlers import PricingHandlers
from . import costmsg
from ..diagnostics import Window
from ..local_list import UpdateStatus
from ..redaction import register_secret
from ..store import StoreError
from ..runtime_settings.keys import shown
from .rpc import Rpc

if TYPE_CHECKING:
    from .session import Ocpp16Link

log = structlog.get_logger(__name__)

VENDOR_ID = "org.ladda"
#: The longest composite schedule answered: a month. The answer's duration says so.
COMPOSITE_MAX_S = 31 * 86_400
TRIGGERABLE = {
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
}


class Handlers(
    CertificateHandlers,
    OwnCertificateHandlers,
    LogHandlers,
    PricingHandlers,
    Rpc,
):
    def __init__(self, cp_id: str, connection: Any, response_timeout: float, session: Ocpp16Link) -> None:
        super().__init__(cp_id, connection, response_timeout, session.throttle)
        self.session = session
        self.runtime = session.runtime
        for action in session.config.unsupported_actions():  # a profile not offered: CALLERROR NotSupported
            self.route_map.pop(action, None)

    def _later(self, func: Callable[[], None]) -> None:
        self.after_reply(func)

    @on(Action.remote_start_transaction)
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        # OCPP 1.6 section 4.2.1: no remote start or stop before the boot is Accepted.
        profile = None
        if charging_profile is not None:
            profile, why = self._start_profile(charging_profile, connector_id)
            if why is not None:
                log.warning("remote start refused: its charging profile cannot be used", id_tag=id_tag,
                            connector=connector_id, reason=why)
                return call_result.RemoteStartTransaction(status="Rejected")
        status = self.runtime.remote_start(id_tag, connector_id, profile) if self.session.booted else "Rejected"
        log.info("remote start", id_tag=id_tag, connector=connector_id, answer=status,
                 charging_profile=None if profile is None else profile.id)
        return call_result.RemoteStartTransaction(status=status)

    def _start_profile(self, raw: dict[str, Any], connector: int | None) -> tuple[Any, str | None]:
        """The TxProfile a RemoteStartTransaction brings (§5.11: only a TxProfile, without
        a transactionId, since the transaction does not exist yet), or why it is refused."""
        if not self.session.config.offers("SmartCharging"):
            log.info("remote start: its charging profile is ignored (SmartCharging is not offered)")
            return None, None
        try:
            profile = parse_profile(raw, connector or 0)
        except (ProfileError, ValueError, KeyError) as exc:
            return None, str(exc)
        if profile.purpose is not Purpose.TX:
            return None, f"a remote start takes a TxProfile, not a {profile.purpose.value}"
        if profile.transaction_id is not None:
            return None, "a remote start's TxProfile cannot name a transaction: it has not started yet"
        # Checked as it will be installed: on a connector with a transaction to follow.
        why = self.runtime.limits.refusal_at_start(replace(profile, connector=connector or 1))
        return profile, why

    # ------------------------------------------------------------ Smart Charging
    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        limits = self.runtime.limits
        try:
            profile = parse_profile(cs_charging_profiles, connector_id)
        except (ProfileError, ValueError, KeyError) as exc:
            return self._refuse_profile(cs_charging_profiles, connector_id, str(exc))
        if profile.purpose is Purpose.TX:
            profile, why = await self._own_transaction(profile)
            if why is not None:
                return self._refuse_profile(cs_charging_profiles, connector_id, why)
        try:
            why = await limits.install(profile)
        except StoreError as exc:
            log.error("set charging profile: the state database refused it", profile_id=profile.id, error=str(exc))
            return call_result.SetChargingProfile(status="Rejected")
        if why is not None:
            return self._refuse_profile(cs_charging_profiles, connector_id, why)
        log.info("set charging profile", profile_id=profile.id, connector=connector_id, answer="Accepted")
        return call_result.SetChargingProfile(status="Accepted")

    async def _own_transaction(self, profile: Any) -> tuple[Any, str | None]:
        """A TxProfile names the backend's transactionId (or none: the connector's running
        one); the core keeps it by the charger's own transaction id."""
        running = self.runtime.local_tx.get(profile.connector)
        if running is None:
            return profile, None  # the core's check names what is missing
        if profile.transaction_id is not None:
            record = await self.session.db.run(self.session.journal.backend_to_local, profile.transaction_id)
            if record is None or record.local_id != running:
                return profile, (f"transactionId {profile.transaction_id} is not the transaction running on "
                                 f"connector {profile.connector}")
        return replace(profile, transaction_id=running), None

    def _refuse_profile(self, raw: dict[str, Any], connector: int, why: str) -> Any:
        log.warning("set charging profile rejected", profile_id=raw.get("charging_profile_id"), connector=connector,
                    purpose=raw.get("charging_profile_purpose"), reason=why)
        return call_result.SetChargingProfile(status="Rejected")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        try:
            removed = await self.runtime.limits.clear(
                profile_id=id, connector=connector_id,
                purpose=None if charging_profile_purpose is None else Purpose(charging_profile_purpose),
                stack_level=stack_level,
            )
        except StoreError as exc:
            # Nothing was cleared (the set in force is the stored one): Unknown is all 1.6 offers.
            log.error("clear charging profile: the state database refused it", error=str(exc))
            return call_result.ClearChargingProfile(status="Unknown")
        status = "Accepted" if removed else "Unknown"
        log.info("clear charging profile", profile_id=id, connector=connector_id, purpose=charging_profile_purpose,
                 stack_level=stack_level, answer=status, removed=[p.id for p in removed])
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None,
    ) -> Any:
        limits = self.runtime.limits
        if not 0 <= connector_id <= len(self.runtime.numbers):
            log.info("get composite schedule rejected", connector=connector_id, reason="no such connector")
            return call_result.GetCompositeSchedule(status="Rejected")
        if duration < 0:
            log.info("get composite schedule rejected", connector=connector_id, reason=f"duration {duration} s")
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = RateUnit(charging_rate_unit) if charging_rate_unit else RateUnit.AMPS
        start = clock.current().now().replace(microsecond=0)
        if duration > COMPOSITE_MAX_S:
            log.info("get composite schedule shortened", asked_s=duration, answered_s=COMPOSITE_MAX_S)
        # Off the event loop: a long horizon over many recurring profiles takes a while.
        composite = await asyncio.to_thread(limits.composite, connector_id, start, min(duration, COMPOSITE_MAX_S), unit)
        answer = composite_answer(composite, limits.maximum(connector_id, unit), limits.electrical.phases)
        log.info("get composite schedule", connector=connector_id, duration=duration, unit=unit.value,
                 periods=len(composite.periods))
        return call_result.GetCompositeSchedule(**answer)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> Any:
        status = await self.runtime.remote_stop(transaction_id) if self.session.booted else "Rejected"
        log.info("remote stop", transaction_id=transaction_id, answer=status)
        return call_result.RemoteStopTransaction(status=status)

    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:
        hard = type == "Hard"
        log.warning("reset requested", type=type)
        self._later(lambda: self.runtime.request_reset(hard))
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    async def on_unlock(self, connector_id: int) -> Any:
        status = await self.runtime.unlock(connector_id)
        return call_result.UnlockConnector(status=status)

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str) -> Any:
        status = self.runtime.change_availability(connector_id, type == "Operative")
        log.info("availability", connector=connector_id, type=type, answer=status)
        return call_result.ChangeAvailability(status=status)

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None) -> Any:
        known, unknown = self.session.config.report(key)
        entries, unknown = self.with_price_texts(
            key, [{"key": k.key, "readonly": k.readonly, "value": k.value} for k in known], unknown)
        return call_result.GetConfiguration(configuration_key=entries or None, unknown_key=unknown or None)

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> Any:
        if shown(key, value) != value:
            register_secret(value)  # before anything could log it, whether it is taken or not
        if key == "SecurityProfile":  # the whitepaper's upgrade: the link's connection profiles
            status, _ = await self.session.raise_security_profile(value)
        elif self.is_price_text_key(key):  # the pricing whitepaper's DefaultPriceText,<language>
            status = await self.session.pricing.change_price_text(key, value)
        else:
            status = await self.session.config.change(key, value)
        log.info("configuration change", key=key, value=shown(key, value), answer=status)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    async def on_clear_cache(self) -> Any:
        await self.runtime.clear_cache()
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None) -> Any:
        if vendor_id == costmsg.VENDOR_ID and self.prices_shown():
            return call_result.DataTransfer(status=await self.cost_message(message_id, data))
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="UnknownMessageId")

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and not 0 <= connector_id <= len(self.runtime.numbers):
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "MeterValues" and connector_id == 0:
            return call_result.TriggerMessage(status="Rejected")
        self._later(lambda: self.session.trigger(requested_message, connector_id))
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
    ) -> Any:
        # The answer names the file at once; the upload follows as a job, its progress in
        # DiagnosticsStatusNotification. A request that cannot be carried out (a location
        # this charger cannot upload to, an unreadable or absurd time) gets no fileName: OCPP 1.6's
        # "no diagnostic information available". It is not a CALLERROR, which the library
        # would log with the whole request, password of the location included.
        shown = locations.masked_url(location)
        try:
            locations.check_url(location)
            window = Window.parse(start_time, stop_time, clock.current().now())
        except (locations.TransferError, ValueError) as exc:
            log.warning("get diagnostics declined", location=shown, reason=str(exc))
            return call_result.GetDiagnostics()
        request = self.session.diagnostics.request(location, retries, retry_interval, window)
        log.info("get diagnostics", location=shown, file_name=request.file_name, retries=request.retries,
                 retry_interval=request.retry_interval, start_time=start_time, stop_time=stop_time)
        self._later(lambda: self.session.start_log_upload(request))
        return call_result.GetDiagnostics(file_name=request.file_name)

    # ------------------------------------------------------------ Firmware Management
    @on(Action.update_firmware)
    async def on_update_firmware(
        self, location: str, retrieve_date: str, retries: int | None = None, retry_interval: int | None = None,
    ) -> Any:
        # Answered at once (the confirmation has no status); the job reports its progress
        # in FirmwareStatusNotification, and survives the restart the install makes. A
        # location it cannot fetch from ends in DownloadFailed, the status a backend knows.
        log.info("firmware update requested", location=locations.masked_url(location), retrieve_date=retrieve_date,
                 retries=retries, retry_interval=retry_interval)
        if self.session.firmware is not None:
            self.session.firmware.update(location, retrieve_date, retries, retry_interval)
        return call_result.UpdateFirmware()

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None = None, retry_interval: int | None = None,
    ) -> Any:
        updater = self.session.firmware
        location = str(firmware.get("location", ""))
        try:
            locations.check_url(location)
        except locations.TransferError as exc:
            log.warning("signed firmware update refused", location=locations.masked_url(location), reason=str(exc))
            return call_result.SignedUpdateFirmware(status="Rejected")
        if updater is None:
            return call_result.SignedUpdateFirmware(status="Rejected")
        # (the library hands nested objects over in snake_case too)
        status = await updater.signed_update(
            request_id, location, firmware["retrieve_date_time"], firmware["signing_certificate"],
            firmware["signature"], retries, retry_interval, firmware.get("install_date_time"),
        )
        log.info("signed firmware update requested", location=locations.masked_url(location), request_id=request_id,
                 answer=status)
        return call_result.SignedUpdateFirmware(status=status)

    # ------------------------------------------------------------ Local Auth List Management
    @on(Action.send_local_list)
    async def on_send_local_list(
        self, list_version: int, update_type: str, local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> Any:
        # A disabled list is not in use: it is kept as it is and not updated (TC_043_1).
        config = self.session.config
        if not config.bool("LocalAuthListEnabled"):
            status = UpdateStatus.NOT_SUPPORTED
        else:
            status = await self.runtime.authorizer.local_list.update(
                update_type, list_version, local_authorization_list,
                max_length=config.int("LocalAuthListMaxLength"), max_request=config.int("SendLocalListMaxLength"),
            )
        log.info("send local list", update_type=update_type, list_version=list_version,
                 entries=len(local_authorization_list or ()), answer=status.value)
        return call_result.SendLocalList(status=status.value)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self) -> Any:
        # OCPP 1.6 section 5.10: 0 for an empty list; -1 when the list is not in use
        # (LocalAuthListEnabled false, as TC_042_1 expects).
        if not self.session.config.bool("LocalAuthListEnabled"):
            return call_result.GetLocalListVersion(list_version=-1)
        return call_result.GetLocalListVersion(list_version=await self.runtime.authorizer.local_list.current_version())

    @on(Action.reserve_now)
    async def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> Any:
        expiry = parse_expiry(expiry_date)
        if expiry is None:
            log.warning("reserve now with an unreadable expiryDate", expiry_date=expiry_date)
            status = "Rejected"
        else:
            status = self.runtime.reserve(connector_id, reservation_id, id_tag, parent_id_tag, expiry)
        log.info("reserve now", connector=connector_id, reservation_id=reservation_id, id_tag=id_tag, answer=status)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int) -> Any:
        status = self.runtime.cancel_reservation(reservation_id)
        log.info("cancel reservation", reservation_id=reservation_id, answer=status)
        return call_result.CancelReservation(status=status)
