"""A fake ``/sys/class/pwm`` tree in a directory, for the real SysfsPwm driver.

Plain files stand in for the kernel's attributes: what the driver writes can be read
back, which is all a bench needs to know the offer. Channels can be created already
exported, or exported on demand by :meth:`FakePwmTree.serving_exports`, a thread that
plays the kernel's part of creating ``pwmN`` when a number is written to ``export``.
Plain files cannot refuse a write: the kernel's own checks (duty above period,
polarity while enabled) are not reproduced. A plain file can also be left half-written
by a writer killed in the middle (truncated, nothing written yet), which a kernel
attribute never is: it keeps its last complete value. :meth:`FakePwmTree.restore_torn`
puts that value back, for a bench whose agent just died.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drivers.pilot import iec61851


@dataclass(frozen=True, slots=True)
class ChannelState:
    """What a channel's attributes read now."""

    period_ns: int
    duty_ns: int
    polarity: str
    enabled: bool

    @property
    def duty_percent(self) -> float:
        return 100.0 * self.duty_ns / self.period_ns if self.period_ns else 0.0

    @property
    def offered_a(self) -> float | None:
        """The current an EV reads from this output (IEC 61851-1 Table A.8), or None."""
        if not self.enabled or not self.period_ns:
            return None
        return iec61851.current_for_duty(self.duty_percent)


def _complete(name: str, text: str) -> bool:
    """Whether ``text`` is a whole value of attribute ``name`` (not a torn write)."""
    if name in ("period", "duty_cycle"):
        return text.isdigit()
    if name == "enable":
        return text in ("0", "1")
    return text in ("normal", "inversed")


class FakePwmTree:
    """``root/pwmchipN`` for each chip in ``chips`` (chip number -> channel count)."""

    def __init__(self, root: Path, chips: dict[int, int] | None = None, *, exported: bool = True) -> None:
        self.root = Path(root)
        #: The last complete value read of each attribute file (what the kernel would hold).
        self._complete: dict[Path, str] = {}
        for chip, npwm in (chips if chips is not None else {0: 2}).items():
            chip_dir = self.root / f"pwmchip{chip}"
            chip_dir.mkdir(parents=True, exist_ok=True)
            (chip_dir / "npwm").write_text(f"{npwm}\n")
            (chip_dir / "export").write_text("")
            (chip_dir / "unexport").write_text("")
            if exported:
                for channel in range(npwm):
                    self.export(chip, channel)

    def export(self, chip: int, channel: int) -> None:
        """Create ``pwmchipN/pwmM`` as the kernel does on export: disabled, period 0."""
        channel_dir = self.root / f"pwmchip{chip}" / f"pwm{channel}"
        channel_dir.mkdir(exist_ok=True)
        for name, value in (("period", "0"), ("duty_cycle", "0"), ("polarity", "normal")):
            (channel_dir / name).write_text(f"{value}\n")
        (channel_dir / "enable").write_text("0\n")  # written last: the driver waits for it

    def channel(self, chip: int, channel: int) -> ChannelState:
        channel_dir = self.root / f"pwmchip{chip}" / f"pwm{channel}"

        def read(name: str) -> str:
            path = channel_dir / name
            text = path.read_text().strip()
            if _complete(name, text):
                self._complete[path] = text
            return text

        return ChannelState(int(read("period")), int(read("duty_cycle")), read("polarity"), read("enable") == "1")

    def restore_torn(self) -> list[Path]:
        """Give every attribute left half-written its last complete value back; returns them."""
        restored = []
        for path, text in self._complete.items():
            try:
                now = path.read_text().strip()
            except OSError:
                continue
            if not _complete(path.name, now):
                path.write_text(f"{text}\n")
                restored.append(path)
        return restored

    def duty_percent(self, chip: int, channel: int) -> float:
        """The output's duty cycle as the pilot sees it: a disabled channel idles low (0 %)."""
        state = self.channel(chip, channel)
        return state.duty_percent if state.enabled else 0.0

    @contextlib.contextmanager
    def serving_exports(self, interval: float = 0.002) -> Iterator[None]:
        """While inside, a number written to a chip's ``export`` creates that channel."""
        stop = threading.Event()

        def serve() -> None:
            while not stop.wait(interval):
                for export in self.root.glob("pwmchip*/export"):
                    text = export.read_text().strip()
                    if text.isdigit():
                        export.write_text("")
                        self.export(int(export.parent.name.removeprefix("pwmchip")), int(text))

        thread = threading.Thread(target=serve, name="fake pwm exports", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
