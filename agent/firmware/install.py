"""The root side of a firmware update: build a release, switch to it, roll back if it fails.

The service runs unprivileged with a read-only /opt, so it cannot replace its own code;
``ladda-update.service`` (root) does, started by ``ladda-update.path`` when the agent
drops a request in ``<state>/firmware/`` (see :mod:`agent.firmware.layout`), and once at
boot. It runs this module from ``/opt/ladda/libexec`` with the system's Python: a copy
put there by ``make install`` and never by a firmware update, so no release the backend
sends runs as root. It uses only the standard library and ``openssl``.

Each run:

* **finishes a trial** an earlier run left (a power cut while the new release was on
  trial): the new release proved itself, or its time ran out and the old one comes back;
* **install request** (phase 1): copies the bundle out of the agent's directory, checks
  its signature when ``[firmware] signing_ca`` is set (then unsigned bundles are
  refused), checks and unpacks it, builds ``releases/<version>-<time>`` (a new
  virtualenv, wheels from the bundle only), checks as the service user that it runs and
  is the version it claims, and writes ``prepared.json``. Nothing running changes.
* **switch request** (phase 2, once no transaction runs): points ``current`` at the new
  release (``previous`` at the old one), restarts the service and waits up to
  ``timeout`` seconds for the new version's health marker (written once it is ready and
  the backend accepted its BootNotification). Without it, ``current`` goes back to
  ``previous`` and the service is restarted again. ``outcome.json`` says which.

Root works in a directory the service user writes, so it trusts nothing there: the
directory is opened once without following links and every access is relative to that
handle, no file is read or written through a link, and what root needs to remember
(the release it built, the trial under way) lives under ``/opt/ladda``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .bundle import BundleError, unpack
from .layout import ATTEMPT, OUTCOME, PREPARED, REQUEST, SWITCH, Layout, healthy_name, read_json, write_json

#: How long the new release has to become ready and be accepted by the backend.
DEFAULT_HEALTH_TIMEOUT_S = 180.0
PIP_TIMEOUT_S = 900
TAKEN = ".taken"


class InstallFailed(Exception):
    """The update cannot go on; the message is what the backend and the log are told."""

    #: The outcome's status (OCPP's FirmwareStatus word).
    status = "InstallationFailed"


class VerificationFailed(InstallFailed):
    """The bundle failed a check of what it is (its signature, its manifest, the version
    it claims): OCPP 2.0.1's InstallVerificationFailed, as opposed to a failure to install
    a bundle that passed them (pip, the new release not proving itself)."""

    status = "InstallVerificationFailed"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(text: str) -> None:
    print(f"ladda firmware install: {text}", flush=True)


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".") and name not in ("..",)


class Spool:
    """The service's ``firmware/`` directory as root sees it: opened once without
    following links; every access is relative to that handle and never follows a link,
    so swapping the directory or planting links redirects nothing."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, state: Path) -> Spool | None:
        try:
            state_fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        try:
            return cls(os.open("firmware", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=state_fd))
        except FileNotFoundError:
            return None
        finally:
            os.close(state_fd)

    def close(self) -> None:
        os.close(self.fd)

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def take(self, name: str) -> bool:
        """Rename ``name`` to ``name.taken`` (so the path unit does not fire again)."""
        try:
            os.replace(name, name + TAKEN, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)

    def read_json(self, name: str) -> dict[str, Any]:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.fd)
            with os.fdopen(fd) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        partial = f".{name}.{secrets.token_hex(8)}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=self.fd)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def copy_out(self, name: str, target: Path) -> None:
        """Copy the regular file ``name`` (never through a link) to ``target``."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=self.fd)
        except OSError as exc:
            raise InstallFailed(f"cannot open the bundle {name}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise InstallFailed(f"the bundle {name} is not a regular file")
            with target.open("wb") as out:
                shutil.copyfileobj(source, out)


def _fail(spool: Spool, request: dict[str, Any], reason: str, status: str = InstallFailed.status) -> None:
    _say(f"{status}: {reason}")
    spool.write_json(OUTCOME, {"status": status, "reason": reason, "job": request.get("job"),
                               "request": request, "at": _now()})


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


def verify_signature(bundle: Path, request: dict[str, Any], ca: Path, work: Path) -> None:
    """With a signing CA configured, only a bundle signed by a certificate it issued goes
    on (the agent checks this too; root checks again, trusting no one below it)."""
    signature, certificate = request.get("signature"), request.get("certificate")
    if not isinstance(signature, str) or not isinstance(certificate, str):
        raise VerificationFailed(f"unsigned firmware refused: [firmware] signing_ca is set ({ca})")
    try:
        # Whitespace is layout (PEM tools wrap base64 at 64 columns), not content.
        (work / "signature.bin").write_bytes(base64.b64decode("".join(signature.split()), validate=True))
    except (binascii.Error, ValueError):
        raise VerificationFailed("the signature is not base64") from None
    (work / "signer.pem").write_text(certificate)
    try:
        _run(["openssl", "verify", "-CAfile", str(ca), str(work / "signer.pem")], "verify the signing certificate")
    except InstallFailed as exc:
        raise VerificationFailed(str(exc)) from None
    _run(["openssl", "x509", "-in", str(work / "signer.pem"), "-pubkey", "-noout", "-out", str(work / "signer.pub")],
         "read the signing certificate's key")
    for options in ([], ["-sigopt", "rsa_padding_mode:pss"]):
        done = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(work / "signer.pub"), *options,
                               "-signature", str(work / "signature.bin"), str(bundle)],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
    raise VerificationFailed("the bundle's signature does not verify with the signing certificate's key")


def build_release(layout: Layout, bundle_path: Path, work: Path, announced: str | None,
                  run_as: str | None = None) -> tuple[str, Path]:
    """Phase 1's work: the bundle (a private copy) installed into a new release;
    (version, dir). Nothing of the new release runs as root: its ``ladda --version``
    check runs as ``run_as`` (the service user), since a wheel may carry start-up code."""
    unpacked = work / "unpacked"
    unpacked.mkdir()
    try:
        bundle = unpack(bundle_path, unpacked)
    except BundleError as exc:
        raise VerificationFailed(str(exc)) from None
    if announced and bundle.version != announced:
        raise VerificationFailed(f"the bundle holds version {bundle.version}, not {announced}")
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
            raise VerificationFailed(f"the new release says {shown!r}, not 'ladda {bundle.version}'")
    except InstallFailed:
        shutil.rmtree(release, ignore_errors=True)
        raise
    return bundle.version, release


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


def prepare(layout: Layout, spool: Spool, run_as: str | None = None, signing_ca: Path | None = None) -> bool:
    """Phase 1, if an install request is waiting; True if there was one."""
    handled = False
    if spool.exists(REQUEST + TAKEN):  # an earlier run died while building (power cut, timeout)
        stale = spool.read_json(REQUEST + TAKEN)
        spool.unlink(REQUEST + TAKEN)
        _fail(spool, stale, "the installer was interrupted while building the release")
        handled = True
    if not spool.take(REQUEST):
        return handled
    request = spool.read_json(REQUEST + TAKEN)
    name = str(request.get("bundle", ""))
    try:
        if not _plain_name(name):
            raise InstallFailed(f"the bundle must be a file name in the firmware directory, not {name!r}")
        with tempfile.TemporaryDirectory(prefix="ladda-install-") as private:
            work = Path(private)
            copy = work / "bundle.tar.gz"
            spool.copy_out(name, copy)
            if signing_ca is not None:
                verify_signature(copy, request, signing_ca, work)
            version, release = build_release(layout, copy, work, str(request.get("version") or "") or None, run_as)
        write_json(layout.prepared_record, {"version": version, "release": str(release), "request": request,
                                            "at": _now()})
        spool.write_json(PREPARED, {"version": version, "job": request.get("job"), "at": _now()})
        _say(f"release {release.name} built; waiting for the agent's switch request")
    except InstallFailed as exc:
        _fail(spool, request, str(exc), exc.status)
    finally:
        if _plain_name(name):
            spool.unlink(name)
        spool.unlink(REQUEST + TAKEN)
    return True


def switch(layout: Layout, spool: Spool, restart: Callable[[], None], healthy: Callable[[str, float], bool],
           timeout: float = DEFAULT_HEALTH_TIMEOUT_S) -> bool:
    """Phase 2, if a switch request is waiting; True if there was one."""
    if not spool.take(SWITCH):
        return False
    spool.unlink(SWITCH + TAKEN)
    spool.unlink(PREPARED)
    prepared = read_json(layout.prepared_record)
    layout.prepared_record.unlink(missing_ok=True)
    release = Path(str((prepared or {}).get("release")))
    if prepared is None or release.parent != layout.releases or not release.is_dir() or release.is_symlink():
        _fail(spool, {}, "a switch was asked for, but no release was prepared")
        return True
    request = dict(prepared.get("request") or {})
    version = str(prepared["version"])
    old = layout.current.resolve() if layout.current.is_symlink() else None
    # The release before that one: a rollback makes it ``previous`` again.
    older = layout.previous.resolve() if layout.previous.is_symlink() else None
    deadline = time.time() + timeout
    write_json(layout.opt / ATTEMPT, {"version": version, "release": str(release), "previous": str(old) if old else None,
                                      "older": str(older) if older else None,
                                      "deadline": deadline, "request": request, "at": _now()})
    # The release on trial holds its connectors until the verdict, or a little past this.
    spool.write_json(ATTEMPT, {"version": version, "job": request.get("job"), "deadline": deadline, "at": _now()})
    spool.unlink(healthy_name(version))
    if old is not None:
        _point(layout.previous, old)
    _point(layout.current, release)
    _say(f"switched to {release.name}; restarting the service")
    restart()
    _conclude(layout, spool, restart, healthy)
    return True


def resume(layout: Layout, spool: Spool, restart: Callable[[], None], healthy: Callable[[str, float], bool]) -> bool:
    """A trial an earlier run could not finish (the controller lost power meanwhile)."""
    if not (layout.opt / ATTEMPT).exists():
        return False
    _say("finishing the trial of a release an earlier run switched to")
    _conclude(layout, spool, restart, healthy)
    return True


def _conclude(layout: Layout, spool: Spool, restart: Callable[[], None],
              healthy: Callable[[str, float], bool]) -> None:
    attempt = read_json(layout.opt / ATTEMPT) or {}
    version, release = str(attempt.get("version")), Path(str(attempt.get("release")))
    previous = Path(str(attempt["previous"])) if attempt.get("previous") else None
    request = dict(attempt.get("request") or {})
    remaining = max(0.0, float(attempt.get("deadline", 0)) - time.time())
    if healthy(version, remaining):
        spool.write_json(OUTCOME, {"status": "Installed", "version": version, "job": request.get("job"),
                                   "request": request, "at": _now()})
        _say(f"{version} is running and accepted by the backend: Installed")
        (layout.opt / ATTEMPT).unlink(missing_ok=True)
        prune(layout)
    else:
        reason = f"version {version} did not become ready and accepted by the backend in time"
        if previous is not None and previous.is_dir():
            _point(layout.current, previous)
            reason += f"; rolled back to {previous.name}"
            older = Path(str(attempt["older"])) if attempt.get("older") else None
            if older is not None and older.is_dir() and older.parent == layout.releases:
                _point(layout.previous, older)  # as before the switch
            else:
                layout.previous.unlink(missing_ok=True)  # not the release now current again
        # The broken release goes before the outcome is written and the service restarted: the
        # agent reports InstallationFailed as soon as it reads the outcome, and by then nothing
        # of the failed release may be left (a kill in between just runs this again on resume).
        if release.parent == layout.releases and release.resolve() != layout.current.resolve():
            shutil.rmtree(release, ignore_errors=True)
        _fail(spool, request, reason)
        (layout.opt / ATTEMPT).unlink(missing_ok=True)
        restart()
    spool.unlink(ATTEMPT)
    spool.unlink(healthy_name(version))


def wait_for_marker(spool: Spool, poll: float = 0.5) -> Callable[[str, float], bool]:
    """The health check: the new version's marker appears in the spool within the time given."""

    def healthy(version: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if spool.exists(healthy_name(version)):
                return True
            time.sleep(poll)
        return spool.exists(healthy_name(version))

    return healthy


def signing_ca_of(config: Path) -> Path | None:
    """``[firmware] signing_ca`` of the technician's file (root-owned: the agent cannot
    change it), or None."""
    try:
        data = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = data.get("firmware", {}).get("signing_ca") if isinstance(data.get("firmware"), dict) else None
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else config.parent / path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ladda_firmware.install", description=__doc__.split("\n")[0])
    parser.add_argument("--opt", type=Path, default=Path("/opt/ladda"), help="releases and links (default /opt/ladda)")
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/ladda"),
                        help="the service's state directory (default /var/lib/ladda)")
    parser.add_argument("--config", type=Path, default=Path("/etc/ladda/ladda.toml"),
                        help="the technician's file, for [firmware] signing_ca (default /etc/ladda/ladda.toml)")
    parser.add_argument("--service", default="ladda.service", help="the unit restarted (default ladda.service)")
    parser.add_argument("--run-as", default="ladda",
                        help="the service user: the new release's self-check runs as it, never as root (default ladda)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_HEALTH_TIMEOUT_S,
                        help=f"seconds the new release has to prove itself (default {DEFAULT_HEALTH_TIMEOUT_S:g})")
    args = parser.parse_args(argv)
    layout = Layout(args.opt, args.state_dir)
    try:
        spool = Spool.open(args.state_dir)
    except OSError as exc:  # e.g. firmware/ is a symbolic link: someone is playing tricks
        _say(f"refusing the firmware directory in {args.state_dir}: {exc.strerror or exc}")
        return 1
    if spool is None:
        _say("no firmware directory: nothing to do")
        return 0

    def restart() -> None:
        subprocess.run(["systemctl", "restart", "--no-block", args.service], check=False)

    try:
        healthy = wait_for_marker(spool)
        handled = resume(layout, spool, restart, healthy)
        handled = prepare(layout, spool, args.run_as if os.geteuid() == 0 else None,
                          signing_ca_of(args.config)) or handled
        handled = switch(layout, spool, restart, healthy, args.timeout) or handled
    finally:
        spool.close()
    if not handled:
        _say("nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
