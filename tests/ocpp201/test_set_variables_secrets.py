"""SetVariables and secrets: a value addressed to a write-only variable (BasicAuthPassword)
is registered for redaction before anything handles it, as 1.6's ChangeConfiguration does."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace


async def test_a_value_for_a_write_only_variable_is_a_secret_before_it_is_handled(tmp_path: Path) -> None:
    """m7: as 1.6's ChangeConfiguration does, SetVariables registers a BasicAuthPassword
    (taken or not) as a secret before the device model (or anything that might log) sees it."""
    from agent.ocpp201.handlers import Handlers
    from agent.ocpp201.variables import DeviceModel
    from agent.redaction import forget_secrets, redact_text
    from agent.runtime_settings.configuration import Configuration
    from agent.store import ChargerState, Database

    from .facts import FakeFacts

    password, plain = "0123456789abcdef-new-pass", "Acme-Charging-Masters"
    seen: list[str] = []

    class Watching(DeviceModel):
        async def set_variables(self, requests):  # type: ignore[no-untyped-def]
            seen.append(redact_text(f"{password} {plain}"))
            return await super().set_variables(requests)

    db = Database(tmp_path)
    db.open()
    forget_secrets()
    try:
        model = Watching(Configuration({}, ChargerState(db), 2), FakeFacts())
        handlers = SimpleNamespace(session=SimpleNamespace(device_model=model))
        answer = await Handlers.on_set_variables(handlers, [  # type: ignore[arg-type]
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
             "attribute_value": password},
            {"component": {"name": "AuthCtrlr"}, "variable": {"name": "MasterPassGroupId"}, "attribute_value": plain}])
        assert [r["attribute_status"] for r in answer.set_variable_result] == ["Rejected", "Accepted"]  # profile 0
        assert len(seen) == 1 and password not in seen[0] and plain in seen[0]
    finally:
        forget_secrets()
        db.close()
