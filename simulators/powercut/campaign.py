"""The power-cut campaign: the crash campaign's rounds, each kill a power cut.

The agent runs under the recorder shim (:mod:`.build`); every SIGKILL of the crash
campaign (:mod:`simulators.crash_campaign`) is followed by the rebuild of the state
directory as a power cut at that instant would leave it (:mod:`.image`: unsynced data
lost, or, for a share of the cuts, a random in-order prefix of it landed), a check of
the rebuilt journal (:mod:`.journal`: ``PRAGMA integrity_check``, which rows the cut
took), and the restart. At the end the ledger is audited with the power-cut policy
(:mod:`.policy`): every start and stop exactly once, no acknowledged start or stop
sent again, stop values within one sample interval of the meter, and meter samples
missing only within ``[state] sample_sync_seconds`` before a cut.

    python -m simulators.powercut --cuts 50 --seed 1 --report docs/reliability.md
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simulators.crash_campaign import CAMPAIGN_OCPP, CONNECTORS, PING_TIMEOUT_S, Campaign
from simulators.crash_report import CampaignResult, _spread
from simulators.harness import Csms, Stack
from simulators.ledger_audit import AuditInput, AuditResult, KillRecord, parse_time

from .build import build_shim, shim_env
from .image import LOSE, PREFIX, CutReport, rebuild, snapshot
from .journal import JournalCheck, check_journal
from .policy import PowerCutFindings, judge
from .trace import read_ops

SAMPLE_SYNC_KEY = "sample_sync_seconds"
#: Share of cuts in the kinder model (some unsynced writes landed, in order); the rest
#: lose every unsynced write.
PREFIX_P = 0.5


def schema_sample_sync() -> float | None:
    """The default of ``[state] sample_sync_seconds``, or None when this release's
    settings do not know the key (every sample is then committed at once)."""
    from agent.settings.schema import StateSettings

    for f in dataclasses.fields(StateSettings):
        if f.name == SAMPLE_SYNC_KEY:
            return float(f.default)
    return None


def sample_window(config_path: Path) -> float:
    """How long before a cut samples may be lost: the key in the charger's configuration,
    else its default, else 0 (a release that commits each sample at once)."""
    state = tomllib.loads(config_path.read_text()).get("state", {})
    if SAMPLE_SYNC_KEY in state:
        return float(state[SAMPLE_SYNC_KEY])
    default = schema_sample_sync()
    return default if default is not None else 0.0


class Recorder:
    """The trace of one agent process and the snapshot of the directory it started from.

    The agent's runtime directory (``$RUNTIME_DIRECTORY``, a tmpfs under systemd, where
    the journal notes MeterValues acknowledgements: agent.ack_notes) is a directory of
    its own beside the state directory: a kill leaves it as it is, a cut empties it."""

    def __init__(self, shim: Path, state_dir: Path, log: Path) -> None:
        self.shim, self.state_dir, self.log = shim, state_dir, log
        self.runtime_dir = state_dir.with_name(state_dir.name + "-run")
        self.before: dict[str, bytes] = {}

    def env(self) -> dict[str, str]:
        return {**shim_env(self.shim, self.state_dir, self.log), "RUNTIME_DIRECTORY": str(self.runtime_dir)}

    def begin(self) -> None:
        """Before the agent starts: the directory is at rest, all of it durable."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.before = snapshot(self.state_dir)
        self.log.write_bytes(b"")

    def cut(self, mode: str, rng: random.Random) -> tuple[CutReport, JournalCheck]:
        """After the agent was SIGKILLed: leave the directory as the cut would have, and
        the runtime directory empty, as after a reboot."""
        seen = snapshot(self.state_dir)
        report = rebuild(self.state_dir, self.before, list(read_ops(self.log)), mode, rng)
        for path in self.runtime_dir.iterdir():
            path.unlink()
        return report, check_journal(self.state_dir, seen)


@dataclass
class PowerCutStack(Stack):
    """A stack whose agent runs under the recorder; ``sample_sync_seconds`` goes into
    ``[state]`` when set (only for a release whose settings know the key)."""

    recorder: Recorder | None = None
    sample_sync_seconds: float | None = None

    def write_config(self) -> None:
        super().write_config()
        if self.sample_sync_seconds is not None:
            text = self.config_path.read_text()
            line = f"{SAMPLE_SYNC_KEY} = {self.sample_sync_seconds}"
            self.config_path.write_text(text.replace("[state]\n", f"[state]\n{line}\n", 1))

    async def start_agent(self) -> None:
        if self.recorder is not None:
            self.recorder.begin()
        await super().start_agent()


@dataclass
class CutRecord:
    index: int
    phase: str
    at: float
    mode: str
    recovery: bool
    files: CutReport
    journal: JournalCheck
    lost_sample_ages_s: list[float] = field(default_factory=list)  # inside view: journaled samples the cut took


class PowerCutCampaign(Campaign):
    """The crash campaign with every kill followed by a power cut's rebuild."""

    def __init__(self, stack: PowerCutStack, seed: int, *, progress: Callable[[str], None] | None = None,
                 prefix_p: float = PREFIX_P) -> None:
        super().__init__(stack, seed, progress=progress)
        assert stack.recorder is not None, "the stack's agent must run under the recorder"
        self.recorder = stack.recorder
        self.prefix_p = prefix_p
        self.window_s = sample_window(stack.config_path)
        self.cuts: list[CutRecord] = []
        self.findings: PowerCutFindings | None = None

    async def kill(self, phase: str, recovery: bool = False) -> KillRecord:
        record = await super().kill(phase, recovery)
        rng = random.Random(f"{self.seed}:cut:{len(self.cuts)}")
        mode = PREFIX if rng.random() < self.prefix_p else LOSE
        files, journal = await asyncio.to_thread(self.recorder.cut, mode, rng)
        ages = [round(record.at - parse_time(t), 3) for t in journal.lost_sample_times if t]
        self.cuts.append(CutRecord(len(self.cuts), phase, record.at, mode, recovery, files, journal, ages))
        if journal.integrity != "ok":
            self.problem("journal damaged by a cut", f"cut {len(self.cuts) - 1} ({phase}, {mode}): "
                         f"integrity_check: {journal.integrity}")
        return record

    def judge(self, data: AuditInput) -> AuditResult:
        result, self.findings = judge(data, self.window_s)
        return result

    async def run_cuts(self, cuts: int) -> PowerCutResult:
        campaign = await self.run_crash(cuts)
        assert self.findings is not None
        return PowerCutResult(campaign, self.cuts, self.findings, self.window_s, self.prefix_p)


@dataclass
class PowerCutResult:
    campaign: CampaignResult
    cuts: list[CutRecord]
    findings: PowerCutFindings
    window_s: float
    prefix_p: float

    @property
    def violations(self) -> list[Any]:
        return self.campaign.violations

    def summary(self) -> dict[str, Any]:
        base = self.campaign.summary()
        rows_lost: Counter[str] = Counter()
        acks_lost: Counter[str] = Counter()
        for c in self.cuts:
            rows_lost.update(c.journal.rows_lost)
            acks_lost.update(c.journal.acks_lost)
        ages = [a for c in self.cuts for a in c.lost_sample_ages_s]
        f = self.findings
        base.update({
            "cuts": len(self.cuts),
            "cuts_by_model": dict(Counter(c.mode for c in self.cuts)),
            "sample_sync_window_s": self.window_s,
            "journal_integrity_failures": sum(1 for c in self.cuts if c.journal.integrity != "ok"),
            "unsynced_ops_at_cut": _spread([float(c.files.unsynced_ops) for c in self.cuts]),
            "unsynced_ops_lost": sum(c.files.ops_lost for c in self.cuts),
            "files_losing_writes": dict(Counter(name for c in self.cuts for name in c.files.per_file_lost)),
            "journal_rows_lost_at_cuts": dict(rows_lost),
            "journal_acks_lost_at_cuts": dict(acks_lost),
            "journaled_sample_age_at_cut_s": _spread(ages),
            "samples_missing_in_ledger": f.samples_lost,
            "samples_missing_beyond_window": f.samples_lost_outside_window,
            "oldest_missing_sample_age_s": f.oldest_lost_age_s,
            "meter_value_resends_after_cut": f.meter_value_resends_after_cut,
            "start_stop_resends_after_cut_unacknowledged": f.start_stop_resends_after_cut,
            "start_stop_resent_after_acknowledgement": f.start_stop_acked_then_resent,
            "values_sent_not_journaled": f.values_sent_not_journaled,
        })
        return base

    def as_json(self) -> dict[str, Any]:
        return {**self.campaign.as_json(), "summary": self.summary(), "cuts": [asdict(c) for c in self.cuts],
                "power_cut_findings": self.findings.as_dict()}


async def run_power_cuts(cuts: int, seed: int, workdir: Path, progress: Callable[[str], None], *,
                         wired: bool = True, sample_sync_seconds: float | None = None,
                         prefix_p: float = PREFIX_P) -> PowerCutResult:
    """A CSMS and a two-connector charger under the recorder, and a campaign against them."""
    if sample_sync_seconds is not None and schema_sample_sync() is None:
        raise ValueError(f"this release's settings have no [state] {SAMPLE_SYNC_KEY}")
    shim = build_shim(workdir)
    charger = workdir / "charger"
    recorder = Recorder(shim, charger / "state", workdir / "powercut-trace.bin")
    csms = Csms(workdir / "csms")
    await csms.start()
    stack = PowerCutStack(charger, csms, cp_id=f"CUT-{seed}", connectors=CONNECTORS, ocpp=dict(CAMPAIGN_OCPP),
                          wired=wired, ping_timeout=PING_TIMEOUT_S, agent_env=recorder.env(), recorder=recorder,
                          sample_sync_seconds=sample_sync_seconds)
    try:
        await stack.start()
        await stack.wait_booted()
        return await PowerCutCampaign(stack, seed, progress=progress, prefix_p=prefix_p).run_cuts(cuts)
    finally:
        await stack.stop()
        await csms.stop()
