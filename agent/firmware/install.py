"""The root side of a firmware update: build a release, switch to it, roll back if it fails.

The service runs unprivileged with a read-only /opt, so it cannot replace its own code;
``ladda-update.service`` (root, started by ``ladda-update.path`` when the agent drops a
request in ``<state>/firmware/``, see :mod:`agent.firmware.layout`) runs
``python -m agent.firmware.install`` from the current release. Each run handles the one
request present and exits:

* **install request** (phase 1): check and unpack the bundle, build
  ``releases/<version>-<time>`` (a new virtualenv, wheels from the bundle only), check
  that it runs and is the version announced, write ``prepared.json``. Nothing running
  changes, so the agent may go on charging meanwhile.
* **switch request** (phase 2, sent by the agent once no transaction runs): point
  ``current`` at the new release (``previous`` at the old one), restart the service, and
  wait up to ``timeout`` seconds for the new version's health marker (written once it
  is ready and the backend accepted its BootNotification). Without it, ``current`` goes
  back to ``previous`` and the service is restarted again. ``outcome.json`` says which.

Every failure ends in ``outcome.json`` with InstallationFailed and the reason; the
running release is never touched before the new one proved it can start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from .bundle import BundleError, unpack
from .layout import ATTEMPT, OUTCOME, PREPARED, REQUEST, SWITCH, Layout, read_json, write_json

#: How long the new release has to become ready and be accepted by the backend.
DEFAULT_HEALTH_TIMEOUT_S = 180.0
PIP_TIMEOUT_S = 900


class InstallFailed(Exception):
    """The update cannot go on; the message is what the backend and the log are told."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(text: str) -> None:
    print(f"ladda firmware install: {text}", flush=True)


def _fail(layout: Layout, request: dict[str, object], reason: str) -> None:
    _say(f"InstallationFailed: {reason}")
    write_json(layout.file(OUTCOME), {"status": "InstallationFailed", "reason": reason,
                                      "request": request, "at": _now()})


def build_release(layout: Layout, bundle_path: Path, announced: str | None, run_as: str | None = None) -> tuple[str, Path]:
    """Phase 1's work: the checked bundle installed into a new release; (version, dir).

    The bundle comes from a directory the service user writes: it is copied (never
    through a link) into a private directory first and unpacked there. Nothing of the new
    release runs as root: its ``ladda --version`` check runs as ``run_as`` (the service
    user), since a wheel may carry start-up code.
    """
    with tempfile.TemporaryDirectory(prefix="ladda-install-") as private:
        copy = Path(private) / "bundle.tar.gz"
        try:
            fd = os.open(bundle_path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise InstallFailed(f"cannot open the bundle {bundle_path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as source, copy.open("wb") as target:
            shutil.copyfileobj(source, target)
        unpacked = Path(private) / "unpacked"
        unpacked.mkdir()
        try:
            bundle = unpack(copy, unpacked)
        except BundleError as exc:
            raise InstallFailed(str(exc)) from None
        if announced and bundle.version != announced:
            raise InstallFailed(f"the bundle holds version {bundle.version}, not {announced}")
        name = f"{bundle.version}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        release = layout.releases / name
        if release.exists():
            raise InstallFailed(f"{release} exists already")
        layout.releases.mkdir(parents=True, exist_ok=True)
        try:
            _run([sys.executable, "-m", "venv", str(release)], "make the virtualenv")
            _run([str(release / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-index",
                  "--find-links", str(bundle.wheels), f"ladda=={bundle.version}"], "install the wheels")
            shown = _run([str(release / "bin" / "ladda"), "--version"], "run the new release", run_as).strip()
            if shown != f"ladda {bundle.version}":
                raise InstallFailed(f"the new release says {shown!r}, not 'ladda {bundle.version}'")
        except InstallFailed:
            shutil.rmtree(release, ignore_errors=True)
            raise
        return bundle.version, release


def _run(argv: list[str], what: str, run_as: str | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False,
                              user=run_as, group=run_as, extra_groups=[] if run_as else None, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallFailed(f"cannot {what}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise InstallFailed(f"cannot {what} (exit {done.returncode}): {' | '.join(tail)}")
    return done.stdout


def _point(link: Path, target: Path) -> None:
    """Make ``link`` point at ``target`` (relative, renamed into place: atomic)."""
    fresh = link.with_name(link.name + ".new")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(os.path.relpath(target, link.parent))
    os.replace(fresh, link)


def prune(layout: Layout) -> None:
    """Keep the current and the previous release; remove the others."""
    keep = {p.resolve() for p in (layout.current, layout.previous) if p.is_symlink()}
    for release in layout.releases.iterdir() if layout.releases.is_dir() else []:
        if release.resolve() not in keep:
            shutil.rmtree(release, ignore_errors=True)


def prepare(layout: Layout, run_as: str | None = None) -> bool:
    """Phase 1, if an install request is waiting; True if there was one."""
    taken = layout.file(REQUEST + ".taken")
    try:
        os.replace(layout.file(REQUEST), taken)
    except FileNotFoundError:
        return False
    request = read_json(taken) or {}
    bundle = Path(str(request.get("bundle", "")))
    try:
        if bundle.parent != layout.firmware:
            raise InstallFailed(f"the bundle {bundle} is not in {layout.firmware}")
        version, release = build_release(layout, bundle, str(request.get("version") or "") or None, run_as)
        record = {"version": version, "release": str(release), "request": request, "at": _now()}
        write_json(layout.prepared_record, record)
        write_json(layout.file(PREPARED), {"version": version, "request": request, "at": _now()})
        _say(f"release {release.name} built; waiting for the agent's switch request")
    except InstallFailed as exc:
        _fail(layout, request, str(exc))
    finally:
        if bundle.parent == layout.firmware:  # only ever remove a file the agent put there
            bundle.unlink(missing_ok=True)
        taken.unlink(missing_ok=True)
    return True


def switch(layout: Layout, restart: Callable[[], None], healthy: Callable[[str, float], bool],
           timeout: float = DEFAULT_HEALTH_TIMEOUT_S) -> bool:
    """Phase 2, if a switch request is waiting; True if there was one."""
    taken = layout.file(SWITCH + ".taken")
    try:
        os.replace(layout.file(SWITCH), taken)
    except FileNotFoundError:
        return False
    prepared = read_json(layout.prepared_record)
    layout.prepared_record.unlink(missing_ok=True)
    layout.file(PREPARED).unlink(missing_ok=True)
    taken.unlink(missing_ok=True)
    if prepared is None or not Path(str(prepared.get("release"))).is_dir():
        _fail(layout, {}, "a switch was asked for, but no release was prepared")
        return True
    request = dict(prepared.get("request") or {})
    version, release = str(prepared["version"]), Path(str(prepared["release"]))
    old = layout.current.resolve() if layout.current.is_symlink() else None
    write_json(layout.file(ATTEMPT), {"version": version, "release": str(release),
                                      "previous": str(old) if old else None, "at": _now()})
    layout.healthy_marker(version).unlink(missing_ok=True)
    if old is not None:
        _point(layout.previous, old)
    _point(layout.current, release)
    _say(f"switched to {release.name}; restarting the service")
    restart()
    if healthy(version, timeout):
        write_json(layout.file(OUTCOME), {"status": "Installed", "version": version, "request": request,
                                          "at": _now()})
        _say(f"{version} is running and accepted by the backend: Installed")
        prune(layout)
    else:
        reason = f"version {version} did not become ready and accepted by the backend within {timeout:g} s"
        if old is not None:
            _point(layout.current, old)
            reason += f"; rolled back to {old.name}"
        _fail(layout, request, reason)
        restart()
        shutil.rmtree(release, ignore_errors=True)
    layout.file(ATTEMPT).unlink(missing_ok=True)
    layout.healthy_marker(version).unlink(missing_ok=True)
    return True


def wait_for_marker(layout: Layout) -> Callable[[str, float], bool]:
    """The health check: the new version's marker file appears within the time given."""

    def healthy(version: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if layout.healthy_marker(version).exists():
                return True
            time.sleep(0.5)
        return layout.healthy_marker(version).exists()

    return healthy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.firmware.install", description=__doc__.split("\n")[0])
    parser.add_argument("--opt", type=Path, default=Path("/opt/ladda"), help="releases and links (default /opt/ladda)")
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/ladda"),
                        help="the service's state directory (default /var/lib/ladda)")
    parser.add_argument("--service", default="ladda.service", help="the unit restarted (default ladda.service)")
    parser.add_argument("--run-as", default="ladda",
                        help="the service user: the new release's self-check runs as it, never as root (default ladda)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_HEALTH_TIMEOUT_S,
                        help=f"seconds the new release has to prove itself (default {DEFAULT_HEALTH_TIMEOUT_S:g})")
    args = parser.parse_args(argv)
    layout = Layout(args.opt, args.state_dir)

    def restart() -> None:
        subprocess.run(["systemctl", "restart", "--no-block", args.service], check=False)

    handled = prepare(layout, args.run_as if os.geteuid() == 0 else None)
    handled = switch(layout, restart, wait_for_marker(layout), args.timeout) or handled
    if not handled:
        _say("nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
