"""The certificate store under ``<state_dir>/certificates/``: root certificates a backend
installs, lists and deletes over OCPP, in neutral terms (the adapters spell them).

Layout: one directory per use (``CSMSRootCertificate/``, ``ManufacturerRootCertificate/``),
one PEM file per certificate named by its SHA-256 fingerprint, so an install of a
certificate already there finds it and adds nothing. Directories are 0700 and files
0600 (the service user only). A file is written to a temporary name, synced and renamed
into place, and the directory synced after: a power cut leaves the old state or the new
one, never half a PEM; a temporary file found at start is a write the cut interrupted
and is removed.

What is refused, and why:

- **install** (``Rejected``): not one PEM X.509 certificate; not valid now (expired or
  not yet valid); for a root use, not a self-signed CA (basicConstraints CA:true, its own
  issuer, its signature its own); a use this charger does not offer (the ISO 15118
  roots: there is no ISO 15118 here); the store full (the configured maximum).
  ``Failed`` when the disk refuses the write.
- **delete** (``Failed``): the charger's own client certificate (``[backend]
  client_certificate``, read-only here, it is the configuration's); a CSMS root whose
  deletion would leave no *usable* one (valid now, and accepted by OpenSSL) while the link
  needs one (security profile 2 or 3 and no ``ca_file``: the charger would lock itself out
  of its backend); the root that anchors the current TLS connection unless another
  remaining root (installed or in ``ca_file``) verifies that server's chain too; a disk
  that refuses. ``NotFound`` when nothing matches. Counting roots is not enough: an
  expired root, or one of another PKI, lets no handshake through.

Nothing here logs key material: certificates are public, and the charger's private key
is never read by this module. The ``cryptography`` library is imported only when there is
a certificate to read: a charger whose backend never installs one does not carry it.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import structlog

from ..firmware.layout import atomic_write, sync_dir
from .hashdata import HashData, hash_data

if TYPE_CHECKING:
    from cryptography import x509

log = structlog.get_logger(__name__)

CSMS_ROOT = "CSMSRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
#: The charger's own client certificate (never installed or deleted through the store).
CHARGER_CERTIFICATE = "ChargingStationCertificate"
#: The uses a backend may install, list and delete.
ROOT_USES = (CSMS_ROOT, MANUFACTURER_ROOT)
DIRECTORY = "certificates"
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_TMP_PREFIX = ".tmp-"


class Installed(enum.Enum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    FAILED = "Failed"


class Deleted(enum.Enum):
    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"
    FAILED = "Failed"


class InstallOutcome(NamedTuple):
    """The answer to an install, why (a few words, empty when plainly accepted), and whether
    the certificate itself was at fault (the security event for an invalid one follows it;
    a full store or a refused disk is no fault of the certificate)."""

    status: Installed
    why: str
    invalid: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """One installed certificate."""

    use: str
    certificate: x509.Certificate
    path: Path
    #: OpenSSL takes it as a trust anchor (``cryptography`` may read what OpenSSL refuses).
    loadable: bool = True

    def usable(self, now: datetime) -> bool:
        """Whether a TLS handshake could be anchored on it now."""
        return self.loadable and valid_at(self.certificate, now)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def hash_data(self, algorithm: str = "SHA256") -> HashData:
        return hash_data(self.certificate, self.certificate, algorithm)  # a root is its own issuer


def fingerprint(certificate: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def installed_roots_exist(state_dir: Path, use: str = CSMS_ROOT, now: datetime | None = None) -> bool:
    """Whether a usable root of ``use`` is installed under ``state_dir`` (for the
    configuration check, without opening the store): a readable certificate valid now; an
    expired or unreadable ``.pem`` verifies no backend. A directory that is not there means
    none; one that cannot be read (another user than the service's: it is 0700) raises
    ``OSError``, for the caller to say so rather than guess."""
    folder = state_dir / DIRECTORY / use
    try:
        paths = [p for p in folder.iterdir() if p.suffix == ".pem" and not p.name.startswith(_TMP_PREFIX)]
    except FileNotFoundError:
        return False
    moment = now or datetime.now(timezone.utc)
    for path in paths:
        try:
            certificate = _read_pem(path)
        except (OSError, ValueError):
            continue
        if valid_at(certificate, moment):
            return True
    return False


def valid_at(certificate: x509.Certificate, moment: datetime) -> bool:
    """Whether ``certificate``'s validity period holds ``moment``."""
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def openssl_accepts(certificate: x509.Certificate) -> bool:
    """Whether OpenSSL takes ``certificate`` as a trust anchor (what the link will do with it)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
            cadata=certificate.public_bytes(Encoding.PEM).decode("ascii"))
    except (ssl.SSLError, ValueError):
        return False
    return True


def verifies(root: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """Whether ``root`` vouches for a server ``chain`` (leaf first): it signed one of its
    certificates (the leaf, an intermediate, or the chain's own anchor when ``root`` is
    that anchor or a re-issue of it with the same key)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    for certificate in chain:
        if certificate.issuer != root.subject:
            continue
        try:
            certificate.verify_directly_issued_by(root)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return True
    return False


def _read_pem(path: Path) -> x509.Certificate:
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


class CertificateStore:
    """The installed root certificates, kept in memory and on disk in step.

    ``max_entries`` gives the most roots the store holds (1.6 CertificateStoreMaxLength);
    ``csms_root_needed`` says whether the link depends on the installed CSMS roots alone
    (profile 2 or 3 without ``ca_file``), which keeps the last one from being deleted.
    ``client_certificate`` is the configuration's client certificate file, if any.
    ``server_chain`` gives the current TLS connection's verified server chain (leaf first,
    anchor last; empty when not connected over TLS) and ``fixed_roots`` the ``ca_file``
    certificates: together they keep the root the live connection stands on from being
    deleted while nothing else would vouch for that server."""

    def __init__(self, directory: Path, *, max_entries: Callable[[], int],
                 csms_root_needed: Callable[[], bool] = lambda: False,
                 client_certificate: Path | None = None,
                 server_chain: Callable[[], Sequence[x509.Certificate]] = lambda: (),
                 fixed_roots: Callable[[], Sequence[x509.Certificate]] = lambda: ()) -> None:
        self.directory = directory
        self._max_entries = max_entries
        self._csms_root_needed = csms_root_needed
        self._client_certificate = client_certificate
        self._server_chain = server_chain
        self._fixed_roots = fixed_roots
        #: Serialises installs and deletes (they run in worker threads). Readers on the event
        #: loop take no lock: a change replaces a use's dict whole, never mutates one in place.
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Entry]] = {use: {} for use in ROOT_USES}
        self._own: list[x509.Certificate] | None = None
        #: The renewed client certificate chain in use, if any (agent.certificates.own sets it).
        self.renewed_own: Callable[[], list[x509.Certificate]] = lambda: []

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Read what is installed (blocking; once at start). An unreadable file is logged
        and left alone; a temporary file of an interrupted write is removed."""
        for use in ROOT_USES:
            folder = self.directory / use
            try:
                names = sorted(folder.iterdir())
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("certificate store unreadable", directory=str(folder), error=str(exc))
                continue
            for path in names:
                if path.name.startswith(_TMP_PREFIX):
                    with contextlib.suppress(OSError):
                        path.unlink()
                    continue
                if path.suffix != ".pem":
                    continue
                try:
                    certificate = _read_pem(path)
                except (OSError, ValueError) as exc:
                    log.warning("ignoring an unreadable certificate file", path=str(path), error=str(exc))
                    continue
                loadable = openssl_accepts(certificate)
                if not loadable:
                    log.warning("OpenSSL refuses an installed root: not trusted", path=str(path),
                                subject=certificate.subject.rfc4514_string())
                self._entries[use][fingerprint(certificate)] = Entry(use, certificate, path, loadable)
        log.info("certificate store", directory=str(self.directory),
                 **{use: len(entries) for use, entries in self._entries.items()})

    # ------------------------------------------------------------------ reading
    def roots(self, use: str) -> list[x509.Certificate]:
        """The installed roots of ``use`` (CSMSRootCertificate, ManufacturerRootCertificate)."""
        return [e.certificate for e in self._entries.get(use, {}).values()]

    def entries(self, uses: set[str] | frozenset[str] | None = None) -> list[Entry]:
        """The installed certificates of ``uses`` (all when None), oldest use first."""
        return [e for use in ROOT_USES if uses is None or use in uses for e in self._entries[use].values()]

    def count(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    def own_certificates(self) -> list[x509.Certificate]:
        """The charger's client certificate file's certificates (the leaf first), read once."""
        if self._own is None:
            self._own = []
            if self._client_certificate is not None:
                from cryptography import x509

                try:
                    self._own = x509.load_pem_x509_certificates(self._client_certificate.read_bytes())
                except (OSError, ValueError) as exc:
                    log.warning("cannot read the client certificate", path=str(self._client_certificate),
                                error=str(exc))
        return self._own

    # ------------------------------------------------------------------ install
    def install(self, use: str, pem: str, now: datetime | None = None) -> InstallOutcome:
        """Install one root certificate. Blocking."""
        with self._lock:
            outcome, subject = self._install(use, pem, now or datetime.now(timezone.utc))
        log.info("install certificate", certificate_type=use, subject=subject, answer=outcome.status.value,
                 reason=outcome.why)
        return outcome

    def _install(self, use: str, pem: str, now: datetime) -> tuple[InstallOutcome, str | None]:
        if use not in ROOT_USES:
            return InstallOutcome(Installed.REJECTED, f"{use} is not offered (no ISO 15118 on this charger)"), None
        try:
            certificate = _one_certificate(pem)
        except ValueError as exc:
            return InstallOutcome(Installed.REJECTED, str(exc), True), None
        subject = certificate.subject.rfc4514_string()
        why = _root_problem(certificate, now)
        if why is None and not openssl_accepts(certificate):
            why = "OpenSSL refuses it as a trust anchor"
        if why is not None:
            return InstallOutcome(Installed.REJECTED, why, True), subject
        key = fingerprint(certificate)
        if key in self._entries[use]:
            return InstallOutcome(Installed.ACCEPTED, "already installed"), subject
        most = self._max_entries()
        if self.count() >= most:
            return InstallOutcome(Installed.REJECTED, f"the store is full ({most} certificates)"), subject
        path = self.directory / use / f"{key}.pem"
        try:
            from cryptography.hazmat.primitives.serialization import Encoding

            _write_atomically(path, certificate.public_bytes(Encoding.PEM))
        except OSError as exc:
            return InstallOutcome(Installed.FAILED, f"cannot write {path}: {exc.strerror or exc}"), subject
        self._entries[use] = {**self._entries[use], key: Entry(use, certificate, path)}
        return InstallOutcome(Installed.ACCEPTED, ""), subject

    # ------------------------------------------------------------------ delete
    def delete(self, wanted: HashData, now: datetime | None = None) -> tuple[Deleted, str]:
        """Delete the installed root the hash data names. Blocking."""
        with self._lock:
            status, why, found = self._delete(wanted, now or datetime.now(timezone.utc))
        log.info("delete certificate", certificate_type=found.use if found else None,
                 subject=found.subject if found else None, serial_number=wanted.serial_number,
                 answer=status.value, reason=why)
        return status, why

    def _delete(self, wanted: HashData, now: datetime) -> tuple[Deleted, str, Entry | None]:
        if self._is_own(wanted):
            return Deleted.FAILED, "the charger's own certificate cannot be deleted", None
        try:
            found = next((e for e in self.entries() if e.hash_data(wanted.hash_algorithm).matches(wanted)), None)
        except ValueError as exc:  # an algorithm not offered
            return Deleted.NOT_FOUND, str(exc), None
        if found is None:
            return Deleted.NOT_FOUND, "no installed certificate has this hash data", None
        if found.use == CSMS_ROOT:
            why = self._needed_by_link(found, now)
            if why is not None:
                return Deleted.FAILED, why, found
        try:
            found.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            return Deleted.FAILED, f"cannot delete {found.path}: {exc.strerror or exc}", found
        # The file is gone: so is the entry, whatever the directory sync says (a stale
        # entry would go on being listed and trusted until the next start).
        gone = fingerprint(found.certificate)
        self._entries[found.use] = {k: e for k, e in self._entries[found.use].items() if k != gone}
        try:
            _sync_directory(found.path.parent)
        except OSError as exc:
            log.warning("certificate deleted, directory not synced", directory=str(found.path.parent),
                        error=exc.strerror or str(exc))
        return Deleted.ACCEPTED, "", found

    def _needed_by_link(self, found: Entry, now: datetime) -> str | None:
        """Why deleting the CSMS root ``found`` would cut the charger off its backend, or None."""
        remaining = [e.certificate for e in self._entries[CSMS_ROOT].values() if e is not found and e.usable(now)]
        if self._csms_root_needed() and not remaining:
            return ("the last CSMS root certificate valid now: the link's security profile needs one "
                    "(no [backend] ca_file)")
        chain = list(self._server_chain())
        if chain and verifies(found.certificate, chain):
            others = [*remaining, *(c for c in self._fixed_roots() if valid_at(c, now))]
            if not any(verifies(root, chain) for root in others):
                return ("it anchors the current connection to the backend, and no other trusted root "
                        "verifies that server's certificate")
        return None

    def _is_own(self, wanted: HashData) -> bool:
        """Whether the hash data names the charger's client certificate. Its issuer may
        not be at hand, so the issuer name and serial decide: refusing too much is safe."""
        for certificate in self.own_certificates()[:1] + self.renewed_own()[:1]:
            try:
                mine = hash_data(certificate, None, wanted.hash_algorithm)
            except ValueError:
                return False
            if mine.same_serial_and_issuer_name(wanted):
                return True
        return False


def _one_certificate(pem: str) -> x509.Certificate:
    from cryptography import x509

    if PEM_BEGIN not in pem:
        raise ValueError("not a PEM certificate")
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError as exc:
        raise ValueError(f"not an X.509 certificate ({exc})") from None
    if len(certificates) != 1:
        raise ValueError(f"{len(certificates)} certificates, where one root certificate was expected")
    return certificates[0]


def _root_problem(certificate: x509.Certificate, now: datetime) -> str | None:
    """Why ``certificate`` cannot be a trusted root now, or None."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    if now < certificate.not_valid_before_utc:
        return f"not valid before {certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
    if now > certificate.not_valid_after_utc:
        return f"expired on {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "not a CA certificate (no basicConstraints)"
    if not constraints.ca:
        return "not a CA certificate (basicConstraints CA:false)"
    if certificate.issuer != certificate.subject:
        return f"not a root certificate: issued by {certificate.issuer.rfc4514_string()}"
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return "not a root certificate: its signature is not its own"
    return None


def _write_atomically(path: Path, data: bytes) -> None:
    """The old file or the new, never half; 0600 in private directories, and the directory
    synced so the rename survives a power cut."""
    _make_private_dirs(path.parent)
    atomic_write(path, data, 0o600, temp_prefix=_TMP_PREFIX, sync_directory=True)


def _make_private_dirs(folder: Path) -> None:
    """The store's directories, 0700 whatever the umask (and tightened if they were wider)."""
    for directory in (folder.parent, folder):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)


def _sync_directory(folder: Path) -> None:
    sync_dir(folder)
