"""Control commands of the test CSMS (see docs/csms.md for requests and replies).

Thin adapters from JSON fields to :class:`~simulators.csms.server.Csms` methods: they
check argument types up front so that a bad request is answered with a clear error
instead of failing somewhere inside.
"""

from __future__ import annotations

from typing import Any

from simulators.control import CommandTable
from simulators.csms.server import Csms, change_tls


def _number(name: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
        raise ValueError(f"{name} must be a number > {minimum:g}, not {value!r}")
    return float(value)


def _count(name: str, value: Any, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def build_commands(csms: Csms) -> CommandTable:
    """The command table served on ``--control``."""
    table = CommandTable()

    @table.command("status")
    async def status() -> dict[str, Any]:
        return csms.status()

    @table.command("messages")
    async def messages(
        cp: str, since_seq: int = 0, action: str | None = None, direction: list[str] | None = None
    ) -> dict[str, Any]:
        _count("since_seq", since_seq, 0)
        found = csms.log.messages(_text("cp", cp), since_seq, action)
        if direction is not None:  # e.g. ["in", "event"]: leave out the (maybe huge) frames sent
            if not isinstance(direction, list) or not set(direction) <= {"in", "out", "event"}:
                raise ValueError(f'direction must be a list of "in", "out", "event", not {direction!r}')
            found = [e for e in found if e["direction"] in direction]
        return {"messages": found}

    @table.command("ledger")
    async def ledger(cp: str | None = None) -> dict[str, Any]:
        """1.6 transactions (by id), then 2.0.1 ones (by arrival); anomalies of both."""
        return {
            "transactions": csms.ledger.transactions(cp) + csms.ledger201.transactions(cp),
            "anomalies": csms.ledger.anomalies(cp),
        }

    @table.command("schema_violations")
    async def schema_violations(cp: str) -> dict[str, Any]:
        """Every payload ``cp`` sent that failed its schema (CALLs and results), oldest first."""
        return {"schema_violations": list(csms.schema_violations.get(_text("cp", cp), []))}

    @table.command("set_boot")
    async def set_boot(status: str, interval: int | None = None) -> None:
        csms.policy.set_boot(status, interval)

    @table.command("set_heartbeat_interval")
    async def set_heartbeat_interval(interval: int) -> None:
        csms.policy.set_heartbeat_interval(interval)

    @table.command("set_id_tag")
    async def set_id_tag(
        id_tag: str,
        status: str,
        parent_id_tag: str | None = None,
        expiry_date: str | None = None,
        group_id_token: str | None = None,
        cache_expiry_date_time: str | None = None,
        personal_message: str | None = None,
    ) -> None:
        """The answer for one 1.6 idTag or 2.0.1 idToken (the last three: 2.0.1 only)."""
        csms.policy.set_id_tag(
            id_tag, status, parent_id_tag, expiry_date, group_id_token, cache_expiry_date_time,
            personal_message,
        )

    @table.command("set_clock_offset")
    async def set_clock_offset(seconds: float) -> None:
        """Tell the time ``seconds`` ahead (negative: behind) in BootNotification and Heartbeat answers."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError(f"seconds must be a number, not {seconds!r}")
        csms.policy.clock_offset_s = float(seconds)

    @table.command("set_clock")
    async def set_clock(current_time: str | None = None) -> None:
        """Tell this currentTime, as given, in BootNotification and Heartbeat answers; none: the real time again."""
        if current_time is not None:
            _text("current_time", current_time)
        csms.policy.fixed_time = current_time

    @table.command("reset_policy")
    async def reset_policy() -> None:
        """Back to the start-up answers: boot status and intervals, no special id tags,
        no refused charge points, only the start-up passwords."""
        csms.policy.restore(csms.initial_policy)
        csms.refusals.clear()
        csms.raw_answers.clear()
        csms.follow_ups.clear()
        csms.passwords = dict(csms.initial_passwords)

    @table.command("refuse")
    async def refuse(cp: str, status: int | None = 401) -> None:
        """Refuse ``cp``'s websocket handshake with HTTP ``status`` (401, 403, 404); null accepts it again."""
        if status is None:
            csms.refusals.pop(cp, None)
        elif status in (401, 403, 404):
            csms.refusals[cp] = status
        else:
            raise ValueError(f"status must be 401, 403, 404 or null, not {status!r}")

    @table.command("set_password")
    async def set_password(cp: str, password: str | None) -> None:
        """Demand HTTP Basic auth with ``password`` from ``cp`` (401 otherwise); null stops demanding it."""
        _text("cp", cp)
        if password is None:
            csms.passwords.pop(cp, None)
        else:
            csms.passwords[cp] = _text("password", password)

    @table.command("clear_id_tags")
    async def clear_id_tags() -> None:
        csms.policy.id_tags.clear()

    @table.command("call")
    async def call(
        cp: str,
        action: str,
        payload: dict[str, Any] | None = None,
        timeout: float = 30.0,
        validate: bool = True,
    ) -> dict[str, Any]:
        return await csms.call(
            _text("cp", cp),
            _text("action", action),
            {} if payload is None else payload,
            _number("timeout", timeout),
            bool(validate),
        )

    @table.command("send_raw")
    async def send_raw(
        cp: str, frame: str, timeout: float = 30.0, expect_reply: bool = True,
        binary: bool = False, any_id: bool = False,
    ) -> dict[str, Any]:
        return await csms.send_raw(
            _text("cp", cp), frame, _number("timeout", timeout), bool(expect_reply),
            bool(binary), bool(any_id),
        )

    @table.command("answer_raw")
    async def answer_raw(cp: str, action: str, frames: list[str]) -> None:
        """Answer the next CALLs of ``action`` from ``cp`` with ``frames`` (garbage on purpose)."""
        if not isinstance(frames, list):
            raise ValueError("frames must be a list of strings")
        csms.answer_raw(_text("cp", cp), _text("action", action), frames)

    @table.command("follow_with")
    async def follow_with(cp: str, after: str, action: str, payload: dict[str, Any]) -> None:
        """Send ``action`` to ``cp`` right after answering its next ``after`` CALL."""
        csms.follow_with(_text("cp", cp), _text("after", after), _text("action", action), payload)

    @table.command("followed")
    async def followed(cp: str) -> dict[str, Any]:
        """The ``follow_with`` CALLs sent to ``cp`` so far, each with its answer."""
        return {"followed": list(csms.followed.get(_text("cp", cp), []))}

    @table.command("disconnect")
    async def disconnect(cp: str, abrupt: bool = False) -> None:
        await csms.disconnect(_text("cp", cp), bool(abrupt))

    @table.command("set_tls")
    async def set_tls(cert: str | None = None, key: str | None = None, max_version: str | None = None) -> None:
        """wss:// only: serve later handshakes with ``cert`` and ``key`` (PEM paths), and/or
        only up to TLS ``max_version`` ("TLSv1_1"; "" for the newest again)."""
        if csms.tls is None:
            raise ValueError("this CSMS serves plain ws://: start it with --tls-cert and --tls-key")
        if (cert is None) != (key is None):
            raise ValueError("cert and key go together")
        if max_version not in (None, "", "TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"):
            raise ValueError(f"max_version must be TLSv1, TLSv1_1, TLSv1_2, TLSv1_3 or \"\", not {max_version!r}")
        change_tls(csms.tls, cert, key, max_version)

    @table.command("wait_for")
    async def wait_for(
        cp: str, action: str, count: int = 1, since_seq: int = 0, timeout: float = 30.0
    ) -> dict[str, Any]:
        found = await csms.wait_for(
            _text("cp", cp),
            _text("action", action),
            _count("count", count, 1),
            _count("since_seq", since_seq, 0),
            _number("timeout", timeout),
        )
        return {"messages": found}

    return table
