"""The [backend] security keys checked together: profile, URL scheme, secrets and TLS files.

Each key is valid on its own by its rule; here they must also agree, because a
charger set up half-way must fail at `ladda check-config`, on site, not later as a
link that never comes up or, worse, one that connects with less protection than meant.
Files are read here too (the password file, the CA and the client pair load), so every
problem is reported in one run. A secret file that others can read is a warning.
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from agent.settings.rules import AuthorizationKey, basic_auth_password, is_hex_key
from agent.settings.schema import Invalid

#: The password rule of backend.authorization_key, for the file that can replace it (not empty there).
PASSWORD_RULE = AuthorizationKey(allow_empty=False)
FILE_KEYS = ("authorization_key_file", "ca_file", "client_certificate", "client_key")
_UNSET = object()


class Reporter(Protocol):
    def add(self, path: tuple[str, ...], subject: str, message: str, value: object = ...) -> None: ...


def secret_forms(key: str) -> list[str]:
    """Every spelling of the authorization key a log line could carry: as written, and for a
    hexadecimal key its digits in either case and the password it decodes to (when that is text)."""
    if not key:
        return []
    forms = [key]
    if is_hex_key(key):
        forms += [key.lower(), key.upper()]
        try:
            forms.append(basic_auth_password(key).decode())
        except UnicodeDecodeError:
            pass
    return [f for i, f in enumerate(forms) if f and f not in forms[:i]]


def implied_profile(url: str, has_key: bool, has_client_certificate: bool) -> int:
    """The profile a file without security_profile asks for: what its URL and keys imply."""
    if url.startswith("wss://"):
        return 3 if has_client_certificate and not has_key else 2
    return 1 if has_key else 0


def check_backend_security(table: Mapping[str, Any] | None, backend: dict[str, Any], base: Path,
                           problems: Reporter, state_dir: Path | None = None) -> list[str]:
    """Check the security keys against each other and their files; complete `backend` with the
    implied profile, absolute paths and the password read from its file. Returns warnings.

    ``state_dir``: where the backend installs CSMS root certificates. Profiles 2 and 3 need
    something to trust: ``ca_file``, or a CSMS root already installed there (a charger the
    backend moved to its own roots may drop ``ca_file``). A file with neither is refused,
    even though a backend could install one later: without a root it never gets that far."""
    table = table or {}
    checker = _Checker(table, backend, base, problems)
    if state_dir is not None:
        from agent.certificates.store import CSMS_ROOT, DIRECTORY, installed_roots_exist

        try:
            checker.installed_csms_root = installed_roots_exist(state_dir)
        except OSError as exc:
            folder = state_dir / DIRECTORY / CSMS_ROOT
            checker.roots_unreadable = (f"cannot read {folder}: {(exc.strerror or str(exc)).lower()} (run as the "
                                        "service user, or give the state directory it uses: --state-dir)")
        from agent.certificates.own import renewed_pair_exists

        try:
            checker.renewed_client_certificate = renewed_pair_exists(state_dir)
        except OSError:  # unreadable: the TOML's pair is then required, as said below
            checker.renewed_client_certificate = False
    checker.resolve_paths()
    checker.read_password_file()
    checker.check_profile()
    checker.check_tls_files()
    return checker.warnings


class _Checker:
    def __init__(self, table: Mapping[str, Any], backend: dict[str, Any], base: Path, problems: Reporter) -> None:
        self.table = table
        self.backend = backend
        self.base = base
        self.problems = problems
        self.warnings: list[str] = []
        #: A CSMS root installed by the backend: trusted beside (or instead of) ca_file.
        self.installed_csms_root = False
        #: A client certificate the backend signed (SignCertificate): profile 3 may go without the TOML's pair.
        self.renewed_client_certificate = False
        #: Why the installed CSMS roots could not be looked at, if they could not.
        self.roots_unreadable: str | None = None

    def failed(self, key: str) -> bool:
        """Written in the file but already reported as invalid: checks that need it are skipped."""
        return key in self.table and key not in self.backend

    def add(self, key: str, message: str, value: object = _UNSET) -> None:
        if value is _UNSET:
            self.problems.add(("backend", key), f"backend.{key}", message)
        else:
            self.problems.add(("backend", key), f"backend.{key}", message, value)

    def missing(self, key: str, message: str) -> None:
        """A key that is needed but absent: pointed at the [backend] section."""
        self.problems.add(("backend",), f"backend.{key}", message)

    def add_at(self, key: str, message: str) -> None:
        """A problem with a key that is set, echoing the value as written (masked if secret)."""
        self.add(key, message, self.table.get(key, ""))

    # ------------------------------------------------------------------ files
    def resolve_paths(self) -> None:
        """Relative paths are relative to the configuration file, like state.directory."""
        for key in FILE_KEYS:
            path = self.backend.get(key)
            if isinstance(path, Path) and not path.is_absolute():
                self.backend[key] = self.base / path

    def read_password_file(self) -> None:
        path: Path | None = self.backend.get("authorization_key_file")
        if path is None:
            return
        if self.backend.get("authorization_key"):
            self.add_at("authorization_key_file",
                        "set the password either here or in backend.authorization_key, not both")
            return
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.add_at("authorization_key_file", f"file not found ({path})")
            return
        except IsADirectoryError:
            self.add_at("authorization_key_file", f"is a directory, not a file ({path})")
            return
        except PermissionError:
            self.add_at("authorization_key_file", f"cannot be read: permission denied ({path})")
            return
        except UnicodeDecodeError:
            self.add_at("authorization_key_file", f"is not UTF-8 text ({path})")
            return
        except OSError as exc:
            self.add_at("authorization_key_file", f"cannot be read: {exc.strerror or exc} ({path})")
            return
        password = text.removesuffix("\n").removesuffix("\r")  # editors end a file with a newline
        if not password:
            self.add_at("authorization_key_file", f"is empty; write the password on its one line ({path})")
            return
        try:
            PASSWORD_RULE.convert(password)
        except Invalid as exc:
            self.add_at("authorization_key_file", f"its content {exc} ({path})")
            return
        self.backend["authorization_key"] = password
        self.warn_if_shared(path, "the HTTP Basic password")

    def warn_if_shared(self, path: Path, what: str) -> None:
        """A secret must be readable by the service user only (mode 600 or 400)."""
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            return
        if mode & 0o077:
            self.warnings.append(
                f"{path}: mode {mode:04o} lets other users reach {what}; "
                f"make it readable by the service user only: chmod 600 {path}")

    def check_tls_files(self) -> None:
        # Loaded the way the link loads them, so what passes here also works there.
        from agent.link.security import TlsFileError, load_identity, load_trust

        ca: Path | None = self.backend.get("ca_file")
        if ca is not None:
            try:
                load_trust(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ca)
            except TlsFileError as exc:
                self.add_at(exc.key, str(exc))
        cert: Path | None = self.backend.get("client_certificate")
        key: Path | None = self.backend.get("client_key")
        if cert is not None and key is not None:
            try:
                load_identity(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), cert, key)
            except TlsFileError as exc:
                self.add_at(exc.key, str(exc))
            else:
                self.warn_if_shared(key, "this charger's private key")

    # ------------------------------------------------------------------ profile
    def check_profile(self) -> None:
        if self.failed("url") or "url" not in self.backend or self.failed("security_profile"):
            return
        url: str = self.backend["url"]
        tls = url.startswith("wss://")
        key_keys = [k for k in ("authorization_key", "authorization_key_file")
                    if self.backend.get(k) not in (None, "") or self.failed(k)]
        has_cert = any(self.backend.get(k) is not None or self.failed(k)
                       for k in ("client_certificate", "client_key"))
        explicit = "security_profile" in self.table
        profile: int = self.backend["security_profile"] if explicit else implied_profile(url, bool(key_keys), has_cert)
        self.backend["security_profile"] = profile

        def at_profile(message: str) -> None:
            if explicit:
                self.add("security_profile", message, profile)
            else:
                self.add("url", f"{message} (no backend.security_profile is set: a {url[:url.index(':')]}:// "
                                f"URL implies profile {profile})", url)

        if explicit and tls and profile < 2:
            at_profile(f"profile {profile} uses a plain ws:// URL, but backend.url is wss://; "
                       "for TLS use profile 2 (HTTP Basic) or 3 (client certificate)")
        if explicit and not tls and profile >= 2:
            at_profile(f"profile {profile} needs TLS: backend.url must start with wss://, not ws:// "
                       "(the agent never falls back to a lower profile)")
        url_said_it = False
        if profile in (1, 2) and not key_keys:
            if not explicit and not has_cert:
                url_said_it = True
                self.add("url", "a wss:// URL needs security profile 2 (set backend.authorization_key_file) "
                                "or 3 (set backend.client_certificate and backend.client_key), with backend.ca_file",
                         url)
            else:
                at_profile(f"profile {profile} sends an HTTP Basic password: "
                           "set backend.authorization_key_file (or backend.authorization_key)")
        if profile == 0:
            for k in key_keys:
                self.add_at(k, "not used with security profile 0 (no authentication); "
                               "set backend.security_profile = 1 to send it, or remove it")
        if profile == 3:
            for k in key_keys:
                self.add_at(k, "not used with security profile 3, which authenticates with the client "
                               "certificate; remove it")
        if profile >= 2:
            if (self.backend.get("ca_file") is None and not self.failed("ca_file") and not url_said_it
                    and not self.installed_csms_root):
                if self.roots_unreadable:
                    self.missing("ca_file", f"not set, and whether a CSMS root is installed is unknown: "
                                            f"{self.roots_unreadable}")
                else:
                    self.missing("ca_file", f"required with security profile {profile}: the PEM file of the CA "
                                            "that signed the backend's certificate (it is always verified)")
        # Below profile 2 (3) a CA file (client certificate) is kept for an upgrade the backend
        # may ask for (1.6 SecurityProfile, 2.0.1 SetNetworkProfile): A05's prerequisites.
        for k in ("client_certificate", "client_key"):
            if profile == 3 and self.backend.get(k) is None and not self.failed(k):
                if not self.renewed_client_certificate:
                    self.missing(k, "required with security profile 3")
        pair = [self.backend.get(k) is not None for k in ("client_certificate", "client_key")]
        if profile != 3 and any(pair) and not all(pair):
            given = "client_certificate" if pair[0] else "client_key"
            self.add_at(given, "client_certificate and client_key go together (kept for an upgrade to security "
                               'profile 3); set both, or remove it or write ""')
