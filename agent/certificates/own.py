"""The charger's own client certificate (OCPP 2.0.1 A02/A03, 1.6 security whitepaper
"Update Charge Point Certificate"), in neutral terms: the key pair made here, the CSR,
the check of the chain a backend sends back, and the switch to it.

Layout under ``<state_dir>/certificates/own/`` (directories 0700, files 0600):

- ``pending/key.pem``, ``pending/csr.pem``: the key of the request sent and the request
  itself, so a retry (or a restart) sends the same CSR and the answer still fits the key;
- ``<fingerprint>/certificate.pem``, ``<fingerprint>/key.pem``: one signed pair;
- ``state.json``: which pair is in use (``current``), the one before it (``previous``;
  none: the TOML's ``[backend] client_certificate``/``client_key``) and whether the
  current one is still on trial (has not connected yet).

``state.json`` is replaced atomically (temporary file, fsync, rename), so a power cut
leaves the old choice or the new one. A renewed pair in the store wins over the TOML's
pair, which stays the first-install pair and the last fallback. The new pair is used from
the next connection; it stays on trial until one connection under it opened, then the
previous pair is removed; a handshake refused while on trial goes back to the previous
pair. The private keys are written here and read by OpenSSL only: never logged.

Key type: EC P-256 (secp256r1) with SHA-256, which OCPP 2.0.1 part 2 (A00, TLS cipher
suites ECDHE-ECDSA) and the OCTT expect alongside RSA 2048; it is the smaller and faster
to make on a charger's CPU.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..firmware.layout import atomic_write
from .store import PEM_BEGIN, fingerprint

if TYPE_CHECKING:
    from cryptography import x509

log = structlog.get_logger(__name__)

DIRECTORY = "own"
STATE_FILE = "state.json"
PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to a CertificateSigned: accepted or not, why (a few words), and whether
    the certificate itself was at fault (then a security event follows)."""

    accepted: bool
    why: str = ""
    invalid: bool = False


def register_key(pem: bytes) -> None:
    """Every line of a private key's PEM body is a secret to the log redactor (a whole PEM
    key is masked anyway; this catches a line of one)."""
    from ..redaction import register_secret

    for line in pem.decode("ascii", "replace").splitlines():
        if not line.startswith("-----"):
            register_secret(line.strip())


def renewed_pair_exists(state_dir: Path) -> bool:
    """Whether the backend signed a client certificate now in use under ``state_dir``
    (for the configuration check: profile 3 may then go without the TOML's pair)."""
    return OwnCertificate(state_dir / "certificates" / DIRECTORY).renewed() is not None


class OwnCertificate:
    """The charger's client certificate pair: the configured one and the renewed ones."""

    def __init__(self, directory: Path, configured: tuple[Path, Path] | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.directory = directory
        self.configured = configured
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.directory / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {"current": None, "previous": None, "trial": False}
        return state if isinstance(state, dict) else {"current": None, "previous": None, "trial": False}

    def _save(self, state: dict[str, Any]) -> None:
        _write_atomically(self.directory / STATE_FILE, json.dumps(state).encode())

    def _pair(self, name: str | None) -> tuple[Path, Path] | None:
        if not name:
            return None
        folder = self.directory / name
        return folder / "certificate.pem", folder / "key.pem"

    def identity(self) -> tuple[Path, Path] | None:
        """The certificate and key the next connection presents: the renewed pair in use,
        else the TOML's."""
        return self.renewed() or self.configured

    def renewed(self) -> tuple[Path, Path] | None:
        """The pair a backend signed, in use (None: the TOML's pair is). A new pair whose
        notBefore is still ahead waits for it; the pair before it stays in use meanwhile."""
        state = self._state()
        current = self._usable(state.get("current"))
        if current is not None and self._waiting(current):
            return self._usable(state.get("previous"))
        return current

    def _usable(self, name: str | None) -> tuple[Path, Path] | None:
        pair = self._pair(name)
        return pair if pair is not None and pair[0].exists() and pair[1].exists() else None

    def _waiting(self, pair: tuple[Path, Path]) -> bool:
        """Whether the pair's certificate is not valid yet (A02: switch when it is)."""
        from cryptography import x509

        try:
            leaf = x509.load_pem_x509_certificate(pair[0].read_bytes())
        except (OSError, ValueError):
            return False
        return self._now() < leaf.not_valid_before_utc

    def _current_waits(self, state: dict[str, Any]) -> bool:
        current = self._usable(state.get("current"))
        return current is not None and self._waiting(current)

    def on_trial(self) -> bool:
        return bool(self._state().get("trial"))

    def chain(self) -> list[x509.Certificate]:
        """The certificates of the pair in use, the leaf first (empty: none readable)."""
        pair = self.identity()
        if pair is None:
            return []
        from cryptography import x509

        try:
            return x509.load_pem_x509_certificates(pair[0].read_bytes())
        except (OSError, ValueError):
            return []

    def leaf(self) -> x509.Certificate | None:
        chain = self.chain()
        return chain[0] if chain else None

    def renewal_due(self, now: datetime, margin_days: int) -> bool:
        """Whether the certificate in use expires within ``margin_days`` of ``now`` (no
        certificate at all: nothing to renew, the backend's trigger makes the first)."""
        leaf = self.leaf()
        return leaf is not None and leaf.not_valid_after_utc - now <= timedelta(days=margin_days)

    # ------------------------------------------------------------------ the request
    def pending_csr(self) -> str | None:
        try:
            return (self.directory / PENDING / "csr.pem").read_text()
        except OSError:
            return None

    def new_request(self, common_name: str, organization: str, country: str = "") -> str:
        """Make a new key pair and its CSR (PEM), kept as the pending request (blocking).
        A request pending before is replaced: its answer would no longer fit the key."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        if country:
            names.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        csr_pem = csr.public_bytes(serialization.Encoding.PEM)
        register_key(key_pem)
        with self._lock:
            folder = self.directory / PENDING
            _write_atomically(folder / "key.pem", key_pem)
            _write_atomically(folder / "csr.pem", csr_pem)
        log.info("certificate signing request made", subject=csr.subject.rfc4514_string(), key="EC P-256")
        return csr_pem.decode()

    def drop_request(self) -> None:
        with self._lock:
            shutil.rmtree(self.directory / PENDING, ignore_errors=True)

    # ------------------------------------------------------------------ the answer
    def accept(self, chain_pem: str, now: datetime, trusted: list[x509.Certificate], max_size: int) -> Verdict:
        """Check the chain a CertificateSigned carries and, if it is good, store it with the
        pending key as the pair the next connection uses (blocking)."""
        with self._lock:
            verdict = self._accept(chain_pem, now, trusted, max_size)
        log.info("certificate signed", answer="Accepted" if verdict.accepted else "Rejected", reason=verdict.why)
        return verdict

    def _accept(self, chain_pem: str, now: datetime, trusted: list[x509.Certificate], max_size: int) -> Verdict:
        from cryptography.hazmat.primitives import serialization

        key_path = self.directory / PENDING / "key.pem"
        if not key_path.exists():
            return Verdict(False, "no certificate signing request is pending")
        if len(chain_pem) > max_size:
            return Verdict(False, f"the chain is {len(chain_pem)} characters, more than {max_size}", True)
        try:
            chain = _certificates(chain_pem)
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except ValueError as exc:
            return Verdict(False, str(exc), True)
        why = chain_problem(chain, key.public_key(), now, trusted)
        if why is not None:
            return Verdict(False, why, True)
        name = fingerprint(chain[0])
        folder = self.directory / name
        try:
            _write_atomically(folder / "certificate.pem", chain_pem.strip().encode() + b"\n")
            _write_atomically(folder / "key.pem", key_path.read_bytes())
            state = self._state()
            old, previous = state.get("current"), state.get("previous")
            if state.get("trial") and old and old != name:
                # A pair on trial that never connected is not worth keeping: the last one that did is.
                shutil.rmtree(self.directory / old, ignore_errors=True)
                old = previous
            self._save({"current": name, "previous": old, "trial": True})
        except OSError as exc:
            return Verdict(False, f"cannot store the certificate: {exc.strerror or exc}")
        shutil.rmtree(self.directory / PENDING, ignore_errors=True)
        log.info("new client certificate stored; used from the next connection",
                 subject=chain[0].subject.rfc4514_string(), serial_number=format(chain[0].serial_number, "x"),
                 not_after=f"{chain[0].not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
        return Verdict(True)

    # ------------------------------------------------------------------ the switch
    def connected(self) -> None:
        """A connection opened with the pair in use: a pair on trial has proved itself, the
        previous one goes; a pair the backend refused before goes now that the one in use
        is proven (kept until then: a refusal might have been the network's)."""
        with self._lock:
            state = self._state()
            refused = state.get("refused")
            if refused and not state.get("trial"):
                self._save({key: value for key, value in state.items() if key != "refused"})
                if refused != state.get("current"):
                    shutil.rmtree(self.directory / refused, ignore_errors=True)
                return
            if not state.get("trial") or self._current_waits(state):
                return  # nothing on trial, or the connection used the pair before it
            previous = state.get("previous")
            self._save({"current": state.get("current"), "previous": None, "trial": False})
            if previous and previous != state.get("current"):
                shutil.rmtree(self.directory / previous, ignore_errors=True)
        log.info("the renewed client certificate connected; the previous one is removed")

    def refused(self) -> bool:
        """The backend refused the handshake: a pair on trial gives way to the previous one
        (True when that happened)."""
        with self._lock:
            state = self._state()
            if not state.get("trial") or self._current_waits(state):
                return False
            if state.get("previous") is None and self.configured is None:
                # Nothing to go back to: giving way would leave no certificate at all, and a
                # charger that can never connect again. Keep trying with this one.
                return False
            failed = state.get("current")
            # Its files stay until the pair given back has connected (connected()).
            self._save({"current": state.get("previous"), "previous": None, "trial": False, "refused": failed})
        log.warning("the backend refused the renewed client certificate; back to the previous one")
        return True

    def is_own(self, certificate: x509.Certificate) -> bool:
        """Whether ``certificate`` is the leaf in use (it cannot be deleted)."""
        leaf = self.leaf()
        return leaf is not None and fingerprint(leaf) == fingerprint(certificate)


def chain_problem(chain: list[x509.Certificate], public_key: Any, now: datetime,
                  trusted: list[x509.Certificate]) -> str | None:
    """Why ``chain`` (leaf first) cannot be this charger's certificate, or None: the leaf
    must hold ``public_key``, no certificate be expired ``now``, each be signed by the
    next, and the last be signed by (or be) a ``trusted`` certificate. One not valid yet
    is taken: it is used from its notBefore on (A02: switch when it is valid)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def spki(key: Any) -> bytes:
        return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    def signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            return False
        return True

    leaf = chain[0]
    if spki(leaf.public_key()) != spki(public_key):
        return "its public key is not the one of the pending signing request"
    for certificate in chain:
        if now > certificate.not_valid_after_utc:
            return (f"{certificate.subject.rfc4514_string()} expired on "
                    f"{certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
    for child, parent in zip(chain, chain[1:]):
        if not signed_by(child, parent):
            return f"{child.subject.rfc4514_string()} is not signed by the next certificate of the chain"
    top = chain[-1]
    anchors = [t for t in trusted if now <= t.not_valid_after_utc]
    if any(fingerprint(t) == fingerprint(top) for t in anchors) or any(signed_by(top, t) for t in anchors):
        return None
    return f"{top.issuer.rfc4514_string()} is not a trusted root of this charger"


def _certificates(pem: str) -> list[x509.Certificate]:
    from cryptography import x509

    if PEM_BEGIN not in pem:
        raise ValueError("not a PEM certificate chain")
    try:
        return x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError as exc:
        raise ValueError(f"not an X.509 certificate chain ({exc})") from None


def _write_atomically(path: Path, data: bytes) -> None:
    """Temporary file (0600), fsync, rename, fsync of the directory; directories 0700."""
    for directory in (path.parent.parent, path.parent):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, data, 0o600, temp_prefix=".tmp-", sync_directory=True)
