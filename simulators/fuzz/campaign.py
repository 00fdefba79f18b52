"""A fuzzing campaign against the real agent process, over the test CSMS's real websocket.

Frames go out one at a time through the CSMS's ``send_raw``; each answer is judged against
its :class:`~simulators.fuzz.frames.Probe`, by the rules of the OCPP version the charger
speaks (1.6, or 2.0.1 with :mod:`simulators.fuzz.frames201`'s probes). After every frame the CSMS's message log tells
whether the link dropped or the charger answered something it should not have, and the
process id whether the agent is still the same process. A dropped link or a dead process
is counted and recovered from (the agent restarted), so one campaign reports every
failure instead of stopping at the first.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.control import ControlError
from simulators.harness import Stack

from . import oracle
from .frames import (
    ANY, ERROR, GARBAGE_ANSWER, NONE, NONE_OR_FORMATION, RESULT, START_TRANSACTION_GARBAGE, V16, Probe, Profile,
    dump_frame,
)
from .frames201 import LIVENESS as LIVENESS_201
from .frames201 import V201
from .payloads import SECRETS

#: A frame that must always get a schema-valid CALLRESULT: sent after frames that must get
#: no answer, to prove the link still carries calls and nothing else was answered.
LIVENESS = '[2,"fz-alive-{n}","GetConfiguration",{{"key":["HeartbeatInterval"]}}]'

#: The bound on logging: under 1 MB of log per 10,000 hostile frames.
LOG_BYTES_PER_10K = 1_000_000

#: Problem categories, in the order a report lists them.
CATEGORIES = ("crash", "link-drop", "wrong-code", "wrong-id", "not-an-answer", "bad-result", "no-answer",
              "answered-stray")


@dataclass
class Failure:
    category: str
    probe: Probe
    detail: str

    def line(self) -> str:
        note = f" [{self.probe.note}]" if self.probe.note else ""
        return f"{self.category}: {self.probe.kind}{note}: {self.probe.short()} -> {self.detail}"


@dataclass
class Figures:
    """What a campaign measured; ``failures`` holds every frame that was answered wrongly."""

    frames: int = 0
    per_class: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    link_drops: int = 0
    crashes: int = 0
    garbage_answers: int = 0
    unsupported: set[str] = field(default_factory=set)
    secrets_logged: list[str] = field(default_factory=list)  # which secrets, by name
    tracebacks: int = 0
    log_bytes: int = 0
    file_log_bytes: int = 0
    seconds: float = 0.0

    def count(self, category: str) -> int:
        return sum(1 for f in self.failures if f.category == category)

    @property
    def wrong_answers(self) -> int:
        return sum(1 for f in self.failures if f.category not in ("crash", "link-drop"))

    def report(self, examples: int = 8) -> str:
        """Every failure category with its count and up to ``examples`` frames."""
        lines = []
        for category in CATEGORIES:
            found = [f for f in self.failures if f.category == category]
            if not found:
                continue
            by_kind = Counter(f.probe.kind for f in found)
            lines.append(f"{category}: {len(found)} frames ({', '.join(f'{k} {n}' for k, n in by_kind.most_common())})")
            seen: set[str] = set()
            for failure in found:
                key = f"{failure.probe.kind}/{failure.detail[:40]}"
                if key in seen:
                    continue
                seen.add(key)
                lines.append(f"  {failure.line()}")
                if len(seen) >= examples:
                    break
        if self.secrets_logged:
            lines.append(f"secrets in the log: {self.secrets_logged}")
        if self.tracebacks:
            lines.append(f"tracebacks in the log: {self.tracebacks}")
        return "\n".join(lines)


def _log_files(stack: Stack) -> list[Path]:
    logs = stack.state_dir / "logs"
    return [stack.workdir / "agent.log", *sorted(logs.glob("ladda.log*"))] if logs.exists() else [stack.workdir / "agent.log"]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Campaign:
    """Sends probes to one charger and judges what comes back."""

    def __init__(self, stack: Stack, answer_timeout: float = 5.0) -> None:
        self.stack = stack
        self.answer_timeout = answer_timeout
        #: The version the charger speaks: its probes' bases, its liveness call, its codes.
        self.version = str(stack.backend.get("ocpp", "1.6"))
        self.profile: Profile = V201 if self.version == "2.0.1" else V16
        self.liveness = LIVENESS_201 if self.version == "2.0.1" else LIVENESS
        self.figures = Figures()
        self._seq = 0
        self._n = 0
        self._pid = self._agent_pid()
        self._stdout_start = _size(stack.workdir / "agent.log")
        self._file_log_start = sum(_size(p) for p in _log_files(stack)[1:])

    def _agent_pid(self) -> int | None:
        proc = self.stack.agent_process.proc if self.stack.agent_process else None
        return proc.pid if proc is not None else None

    async def _csms(self, cmd: str, **args: Any) -> dict[str, Any]:
        try:
            return await self.stack.csms.request(cmd, cp=self.stack.cp_id, **args)
        except ValueError:  # a reply over the control channel's line limit: an answer over 1 MiB
            assert self.stack.csms.control is not None
            await self.stack.csms.control.close()
            raise ControlError(f"{cmd}: the reply is over the control channel's 1 MiB limit") from None

    async def _new_entries(self) -> list[dict[str, Any]]:
        """Frames from the charger and connection events since the last look."""
        for skip in range(50):  # an entry too large to fetch is stepped over
            try:
                reply = await self._csms("messages", since_seq=self._seq + skip, direction=["in", "event"])
                break
            except ControlError as exc:
                if "1 MiB" not in str(exc):
                    raise
        else:
            raise RuntimeError("the CSMS's message log cannot be read")
        entries = list(reply["messages"])
        if entries:
            self._seq = max(e["seq"] for e in entries)
        return entries

    async def run(self, probes: Iterable[Probe], learn: bool = True) -> Figures:
        start = time.monotonic()
        await self._new_entries()
        if learn:
            await self.learn_support()
        for probe in probes:
            await self.send(probe)
        await self.stack.csms.request("reset_policy")  # no garbage left for the charger's later calls
        self.figures.seconds += time.monotonic() - start
        self.read_logs()
        return self.figures

    async def flood(self, probes: Iterable[Probe], window: int = 1) -> Figures:
        """Send probes without judging their answers, for volume figures (``make bench``).

        A liveness call every ``window`` frames keeps the sender in step with the charger
        (bursts turned out slower than lock-step), and a lost link is waited for (the
        frames sent into it are counted all the same).
        """
        start = time.monotonic()
        for probe in probes:
            try:
                await self._csms("send_raw", frame=probe.frame, expect_reply=False, binary=probe.binary)
            except ControlError:
                self.figures.link_drops += 1
                await self._wait_connected()
            self.figures.frames += 1
            self.figures.per_class[probe.kind] += 1
            if self.figures.frames % window == 0:
                await self._flood_step()
        await self._flood_step()
        await self.stack.csms.request("reset_policy")
        self.figures.seconds += time.monotonic() - start
        await asyncio.sleep(0.5)  # the last lines reach the log file
        self.read_logs()
        return self.figures

    async def _flood_step(self) -> None:
        self._n += 1
        alive = self.liveness.format(n=self._n)
        try:
            await self._csms("send_raw", frame=alive, timeout=30.0)
        except ControlError:
            await self._wait_connected()
        if self.stack.agent_process is not None and not self.stack.agent_process.running:
            self.figures.crashes += 1
            await self._restart()

    async def learn_support(self) -> None:
        """Which actions the charger handles at all: a harmless valid CALL of each; of an
        action that cannot be made harmless, a malformed one (an extra property), which a
        charger that handles the action refuses as such, and one that does not as NotSupported."""
        for name, action, payload in self.profile.bases:
            uid = f"fz-learn-{len(self.figures.unsupported)}"  # (an id is at most 36 characters)
            if name in self.profile.unsafe:
                probe = Probe("schema", dump_frame([2, uid, action, {**payload, "fuzzExtra": 1}]), ERROR,
                              frozenset({self.profile.format_code, oracle.NOT_SUPPORTED}), frozenset({uid}), action,
                              note=f"{name}: extra property (support check)")
            else:
                probe = Probe("valid", dump_frame([2, uid, action, payload]), RESULT, ids=frozenset({uid}),
                              action=action, note=f"{name} (support check)")
            answer = await self._exchange(probe)
            if isinstance(answer, list) and len(answer) >= 3 and answer[0] == 4 and answer[2] == oracle.NOT_SUPPORTED:
                self.figures.unsupported.add(action)
            await self._judge_after(probe, answer)

    async def send(self, probe: Probe) -> None:
        """Send one probe, judge its answer, and recover the link or the process if they broke."""
        if probe.expect in (ERROR, RESULT):
            answer = await self._exchange(probe)
        elif probe.expect == GARBAGE_ANSWER:
            answer = await self._garbage_answer(probe)
        else:
            answer = await self._silent(probe)
        await self._judge_after(probe, answer)

    async def _judge_after(self, probe: Probe, answer: Any) -> None:
        self.figures.frames += 1
        self.figures.per_class[probe.kind] += 1
        if answer is not _LINK_LOST:
            problem = self._judge(probe, answer)
            if problem is not None:
                self._fail(problem[0], probe, problem[1])
        await self._check_link(probe)

    def _fail(self, category: str, probe: Probe, detail: str) -> None:
        self.figures.failures.append(Failure(category, probe, detail[:300]))

    async def _exchange(self, probe: Probe, frame: str | None = None, any_id: bool = True) -> Any:
        try:
            reply = await self._csms("send_raw", frame=frame or probe.frame, timeout=self.answer_timeout,
                                     binary=probe.binary, any_id=any_id)
        except ControlError as exc:
            if "did not answer" in str(exc):
                return _NO_ANSWER
            if "1 MiB" in str(exc):
                return _TOO_BIG
            return _LINK_LOST
        return reply["reply"]

    async def _silent(self, probe: Probe) -> Any:
        """Send a frame that may get no answer; a liveness call right behind it must be answered."""
        try:
            await self._csms("send_raw", frame=probe.frame, expect_reply=False, binary=probe.binary)
        except ControlError:
            return _LINK_LOST
        self._n += 1
        alive = self.liveness.format(n=self._n)
        answer = await self._exchange(Probe("liveness", alive), alive, any_id=False)
        if answer is _LINK_LOST:
            return _LINK_LOST
        if not (isinstance(answer, list) and answer[:2] == [3, f"fz-alive-{self._n}"]):
            return _Silent(f"the liveness call sent right after was answered with {_short(answer)}")
        return _Silent(None)

    async def _garbage_answer(self, probe: Probe) -> Any:
        """Make the charger send ``probe.answered`` and have the CSMS answer it with garbage."""
        await self._csms("answer_raw", action=probe.answered, frames=[probe.garbage])
        since = self._seq
        answer = await self._exchange(probe)
        deadline = time.monotonic() + self.answer_timeout
        while time.monotonic() < deadline:
            reply = await self._csms("messages", since_seq=since, action=probe.answered, direction=["in"])
            if any(m["type"] == "CALL" for m in reply["messages"]):
                self.figures.garbage_answers += 1
                # Whatever the charger says to the garbage comes before its answer to this
                # call, so it cannot be taken for the answer to the next frame.
                self._n += 1
                alive = self.liveness.format(n=self._n)
                await self._exchange(Probe("liveness", alive), alive, any_id=False)
                return answer
            await asyncio.sleep(0.05)
        # Not sent yet: an earlier call of the charger may still wait for its (garbage) answer.
        # The garbage stays queued for its next call of that action; that is no failure.
        return answer

    def _judge(self, probe: Probe, answer: Any) -> tuple[str, str] | None:
        if probe.expect == GARBAGE_ANSWER:  # the TriggerMessage must be answered normally
            probe = Probe(probe.kind, probe.frame, RESULT, ids=probe.ids, action=probe.action)
        if isinstance(answer, _Silent):
            if answer.problem is not None:
                return "no-answer", answer.problem
            return None
        if answer is _TOO_BIG:
            return "not-an-answer", "an answer over 1 MiB"
        if answer is _NO_ANSWER:
            if probe.expect == ANY:
                return None
            return "no-answer", f"no answer within {self.answer_timeout:g} s"
        if probe.expect == ANY:
            return None
        if not isinstance(answer, list) or not answer or answer[0] not in (3, 4):
            return "not-an-answer", f"answered with {_short(answer)}"
        if answer[0] == 4:
            if len(answer) != 5 or not isinstance(answer[2], str) or not isinstance(answer[3], str) \
                    or not isinstance(answer[4], dict):
                return "not-an-answer", f"malformed CALLERROR {_short(answer)}"
            code = answer[2]
            wanted = set(probe.codes)
            if probe.action in self.figures.unsupported:
                wanted.add(oracle.NOT_SUPPORTED)
            if probe.expect == RESULT:
                if code in probe.codes or (code == oracle.NOT_SUPPORTED and probe.action in self.figures.unsupported):
                    return self._check_id(probe, answer)
                return "wrong-code", f"CALLERROR {code} ({answer[3][:80]!r}) to a valid CALL"
            if code not in wanted or code not in oracle.error_codes(self.version):
                return "wrong-code", f"{code}, expected {' or '.join(sorted(wanted))} ({answer[3][:80]!r})"
            return self._check_id(probe, answer)
        if probe.expect == ERROR:
            return "wrong-code", f"CALLRESULT {_short(answer)}, expected CALLERROR {' or '.join(sorted(probe.codes))}"
        if len(answer) != 3 or not isinstance(answer[2], dict):
            return "not-an-answer", f"malformed CALLRESULT {_short(answer)}"
        problem = oracle.answer_problem(probe.action, answer[2], self.version)
        if problem is not None:
            return "bad-result", f"{probe.action} answer {_short(answer)} violates the schema: {problem}"
        return self._check_id(probe, answer)

    @staticmethod
    def _check_id(probe: Probe, answer: list[Any]) -> tuple[str, str] | None:
        if answer[1] not in probe.ids:
            return "wrong-id", f"answered with unique id {_short(answer[1], 50)}, expected {sorted(probe.ids)}"
        return None

    async def _check_link(self, probe: Probe) -> None:
        """After a frame: was the link dropped, did the process die, was anything else answered?"""
        entries = await self._new_entries()
        dropped = [e for e in entries if e["direction"] == "event" and e["type"] == "disconnected"]
        stray = [e for e in entries if e["direction"] == "in" and e["type"] != "CALL"
                 and not str(e["unique_id"]).startswith("fz-alive-")]
        if probe.expect == NONE and stray:
            self._fail("answered-stray", probe, f"answered with {_short(stray[0].get('raw') or stray[0]['payload'])}")
        if probe.expect == NONE_OR_FORMATION and stray and any(
                e["type"] != "CALLERROR" or e["payload"].get("errorCode") not in (probe.codes or {oracle.FORMATION})
                for e in stray):
            self._fail("answered-stray", probe, f"answered with {_short(stray[0].get('raw') or stray[0]['payload'])}")
        alive = self.stack.agent_process is not None and self.stack.agent_process.running
        if not alive or self._agent_pid() != self._pid:
            self.figures.crashes += 1
            self._fail("crash", probe, f"the agent process exited ({self._returncode()})")
            await self._restart()
            return
        if dropped or not await self._connected():
            self.figures.link_drops += 1
            reason = dropped[0]["payload"] if dropped else "not connected"
            self._fail("link-drop", probe, f"the link dropped: {reason}")
            await self._wait_connected()

    def _returncode(self) -> str:
        proc = self.stack.agent_process.proc if self.stack.agent_process else None
        return f"status {proc.returncode}" if proc is not None else "not started"

    async def _connected(self) -> bool:
        status = await self.stack.csms.request("status")
        return any(c["id"] == self.stack.cp_id and c["connected"] for c in status["charge_points"])

    async def _wait_connected(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not await self._connected():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not reconnect within {timeout:g} s:\n{self.stack.agent_log()}")
            if self.stack.agent_process is not None and not self.stack.agent_process.running:
                await self._restart()
                return
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # let the charger's own calls after a reconnect go first
        await self._new_entries()

    async def _restart(self) -> None:
        self.read_logs()  # keep what the dead process logged
        await self.stack.stop_agent()
        await self.stack.start_agent()
        self._pid = self._agent_pid()
        await self._wait_connected()

    def read_logs(self) -> None:
        """Secrets, tracebacks and bytes in what the agent logged since the campaign began."""
        stdout = self.stack.workdir / "agent.log"
        with open(stdout, "rb") as f:
            f.seek(self._stdout_start)
            new = f.read()
        self._stdout_start += len(new)
        self.figures.log_bytes += len(new)
        text = new.decode("utf-8", "replace")
        self.figures.tracebacks += text.count("Traceback (most recent call last)")
        files = _log_files(self.stack)[1:]
        file_size = sum(_size(p) for p in files)
        self.figures.file_log_bytes += max(0, file_size - self._file_log_start)
        self._file_log_start = file_size
        texts = [text] + [p.read_text(errors="replace") for p in files]
        for name, secret in SECRETS.items():
            if any(secret in t for t in texts) and name not in self.figures.secrets_logged:
                self.figures.secrets_logged.append(name)


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_NO_ANSWER = _Marker("no answer")
_LINK_LOST = _Marker("link lost")
_TOO_BIG = _Marker("too big")


@dataclass
class _Silent:
    problem: str | None


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def verdict(figures: Figures, ledger: list[dict[str, Any]], anomalies: list[Any], id_tag: str) -> list[str]:
    """The checks of a campaign that failed, in words (empty: all held): the same process,
    the link never dropped, every frame answered rightly, no secret or traceback logged,
    bounded log growth, the session complete in the backend's ledger."""
    broken = []
    if figures.crashes:
        broken.append(f"the agent process died {figures.crashes} times")
    if figures.link_drops:
        broken.append(f"single frames dropped the link {figures.link_drops} times")
    if figures.wrong_answers:
        broken.append(f"{figures.wrong_answers} of {figures.frames} frames were answered wrongly")
    if figures.secrets_logged:
        broken.append(f"secrets were logged: {figures.secrets_logged}")
    if figures.tracebacks:
        broken.append(f"{figures.tracebacks} tracebacks were logged for bad input")
    if figures.frames and figures.log_bytes * 10_000 / figures.frames > LOG_BYTES_PER_10K:
        broken.append(f"the log grew by {figures.log_bytes} bytes for {figures.frames} frames "
                      f"(over {LOG_BYTES_PER_10K / 1e6:g} MB per 10,000)")
    if not (len(ledger) == 1 and ledger[0]["stopped"] and ledger[0]["id_tag"] == id_tag
            and (ledger[0]["energy_wh"] or 0) > 0):
        broken.append(f"the charging session is not complete in the backend's ledger: {ledger}")
    if anomalies:
        broken.append(f"the backend's ledger has {len(anomalies)} anomalies: {anomalies}")
    return broken


# ---------------------------------------------------------------- the charging session


async def _wait_status(stack: Stack, connector: int, status: str, since: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await stack.csms.request("messages", cp=stack.cp_id, since_seq=since, action="StatusNotification",
                                         direction=["in"])
        if any(m["type"] == "CALL" and m["payload"].get("connectorId") == connector
               and m["payload"].get("status") == status for m in reply["messages"]):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"connector {connector} never reported {status}:\n{stack.agent_log()}")


async def _last_seq(stack: Stack) -> int:
    """The seq of the last status report: what comes after it is new (and small to fetch)."""
    reply = await stack.csms.request("messages", cp=stack.cp_id, action="StatusNotification", direction=["in"])
    return max((m["seq"] for m in reply["messages"]), default=0)


#: The charger's [ocpp] keys for a campaign: no periodic samples, and a transaction message
#: the backend could not take (the garbage start below) sent again after 1 s, not 60 s.
FUZZ_OCPP: dict[str, Any] = {"MeterValueSampleInterval": 0, "TransactionMessageRetryInterval": 1}


def _speaks_201(stack: Stack) -> bool:
    return stack.backend.get("ocpp") == "2.0.1"


async def charge(stack: Stack, id_tag: str, garbage_start: bool = True) -> None:
    """Plug in and tap a card until the connector is Charging.

    With ``garbage_start`` the backend answers the first StartTransaction with
    transactionId 2^64+1, an id no charger can store: it must treat that as a failed call
    and send StartTransaction again, so the backend's ledger still gets the session.
    """
    if _speaks_201(stack):  # the charger names its transactions: no id to garble; the contactor tells
        await stack.bench_request("plug", connector=1, max_current=16)
        await stack.bench_request("tap", uid=id_tag)
        await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=20)
        return
    if garbage_start:
        await stack.csms.request("answer_raw", cp=stack.cp_id, action="StartTransaction",
                                 frames=[START_TRANSACTION_GARBAGE])
    since = await _last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await _wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("tap", uid=id_tag)
    await _wait_status(stack, 1, "Charging", since)


async def finish(stack: Stack, id_tag: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Stop with the same card, unplug, and return the backend's ledger for this charger
    once it holds a stopped transaction (or ``timeout`` passed)."""
    if _speaks_201(stack):
        await stack.bench_request("tap", uid=id_tag)
        await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=timeout)
    else:
        since = await _last_seq(stack)
        await stack.bench_request("tap", uid=id_tag)
        await _wait_status(stack, 1, "Finishing", since, timeout)
    await stack.bench_request("unplug", connector=1)
    deadline = time.monotonic() + timeout
    while True:
        reply = await stack.csms.request("ledger", cp=stack.cp_id)
        transactions = list(reply["transactions"])
        if (transactions and all(t["stopped"] for t in transactions)) or time.monotonic() > deadline:
            return transactions
        await asyncio.sleep(0.2)
