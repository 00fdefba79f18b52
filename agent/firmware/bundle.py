"""Firmware bundles: one release of Ladda with every wheel it needs, in one file.

A charger may have no route to PyPI, and a release must install the same way every
time, so an update carries its dependencies: ``ladda-firmware-<version>-<machine>.tar.gz``
holds ``manifest.json`` and ``wheels/*.whl`` (Ladda's own and every dependency, as
``pip wheel`` built them on the target architecture). The manifest names the version,
the Python (major.minor) and machine it was built for, and each wheel's SHA-256; a
bundle is installed only if all of that matches the controller and every byte is the
one listed. Archive members are checked before extraction: no absolute paths, no
``..``, no links, nothing but the manifest and wheels.

``python -m agent.firmware.bundle SOURCE_TREE OUT_DIR`` builds one (``make firmware``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"
WHEELS = "wheels"
#: A bundle is a few MB; anything far larger is not one of ours (and would fill the disk).
MAX_MEMBER_BYTES = 200 * 2**20


class BundleError(Exception):
    """The file is not a bundle this controller can install; the message says why."""


@dataclass(frozen=True)
class Bundle:
    """A bundle checked and unpacked in ``root``."""

    version: str
    python: str
    machine: str
    root: Path

    @property
    def wheels(self) -> Path:
        return self.root / WHEELS


def this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def this_machine() -> str:
    return platform.machine()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(path: Path, into: Path) -> Bundle:
    """Check ``path`` and unpack it into the empty directory ``into``."""
    try:
        archive = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{path.name} is not a firmware bundle (a .tar.gz): {exc}") from None
    with archive:
        members = archive.getmembers()
        for member in members:
            name = member.name
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts:
                raise BundleError(f"{path.name}: member {name!r} points outside the bundle")
            if not (member.isfile() or member.isdir()):
                raise BundleError(f"{path.name}: member {name!r} is a link or device, not a file")
            if member.isfile() and not (name == MANIFEST or (len(parts) == 2 and parts[0] == WHEELS
                                                               and name.endswith(".whl"))):
                raise BundleError(f"{path.name}: unexpected member {name!r} (only {MANIFEST} and {WHEELS}/*.whl)")
            if member.size > MAX_MEMBER_BYTES:
                raise BundleError(f"{path.name}: member {name!r} is {member.size} bytes, too large for a wheel")
        try:
            # The members were checked above; Python's own "data" filter (3.11.4 on) checks again.
            if hasattr(tarfile, "data_filter"):
                archive.extractall(into, filter="data")
            else:
                archive.extractall(into)
        except (OSError, tarfile.TarError) as exc:
            raise BundleError(f"{path.name}: cannot unpack: {exc}") from None
    return _check(path.name, into)


def _check(name: str, root: Path) -> Bundle:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise BundleError(f"{name}: no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{name}: {MANIFEST} unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{name}: {MANIFEST} is not format {FORMAT}")
    try:
        version, python, machine = str(manifest["version"]), str(manifest["python"]), str(manifest["machine"])
        listed: dict[str, str] = dict(manifest["wheels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{name}: {MANIFEST} lacks {exc}") from None
    if python != this_python() or machine != this_machine():
        raise BundleError(f"{name} is built for Python {python} on {machine}; this controller runs Python "
                          f"{this_python()} on {this_machine()}")
    present = {p.name for p in (root / WHEELS).glob("*.whl")} if (root / WHEELS).is_dir() else set()
    if present != set(listed):
        missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
        raise BundleError(f"{name}: wheels do not match the manifest (missing {missing}, not listed {extra})")
    for wheel, expected in listed.items():
        actual = _sha256(root / WHEELS / wheel)
        if actual != expected:
            raise BundleError(f"{name}: {wheel} is damaged (SHA-256 {actual[:16]}..., the manifest says "
                              f"{expected[:16]}...)")
    if not any(w.startswith(f"ladda-{version}-") for w in listed):
        raise BundleError(f"{name}: no ladda-{version} wheel in the bundle")
    return Bundle(version, python, machine, root)


def build(source: Path, out_dir: Path, pip_args: tuple[str, ...] = ()) -> Path:
    """Build a bundle of the source tree ``source`` into ``out_dir``; returns its path."""
    version = _version_of(source)
    with tempfile.TemporaryDirectory(prefix="ladda-bundle-") as tmp:
        root = Path(tmp)
        wheels = root / WHEELS
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                        "--wheel-dir", str(wheels), *pip_args, str(source)], check=True)
        manifest = {
            "format": FORMAT, "name": "ladda", "version": version, "python": this_python(),
            "machine": this_machine(), "wheels": {w.name: _sha256(w) for w in sorted(wheels.glob("*.whl"))},
        }
        (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"ladda-firmware-{version}-{this_machine()}.tar.gz"
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(root / MANIFEST, MANIFEST)
            for wheel in sorted(wheels.glob("*.whl")):
                archive.add(wheel, f"{WHEELS}/{wheel.name}")
        shutil.move(partial, target)
    return target


def _version_of(source: Path) -> str:
    import tomllib

    return str(tomllib.loads((source / "pyproject.toml").read_text())["project"]["version"])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m agent.firmware.bundle SOURCE_TREE OUT_DIR", file=sys.stderr)
        return 2
    print(build(Path(args[0]), Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
