"""Security profiles in the OCPP adapter: what a connection carries, and the AuthorizationKey
and SecurityProfile configuration keys of the security whitepaper."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from agent.runtime_settings.configuration import Configuration
from agent.link.security import SecurityError, link_security
from agent.settings import BackendSettings
from agent.store import ChargerState, Database

from ..certs import make_pki
from ..secret_scan import secret

FILE_KEY = secret("file-password-012345")
OCTT_KEY = secret("OCA_OCTT_admin_test")  # the password TC_073 sets, hex encoded on the wire
OCTT_HEX = OCTT_KEY.encode().hex().upper()


@pytest.fixture
def state(tmp_path):
    db = Database(tmp_path)
    db.open()
    yield ChargerState(db)
    db.close()


def configuration(state: ChargerState, profile: int, file_key: str = FILE_KEY) -> Configuration:
    config = Configuration({}, state, 1)
    config.bind_backend_security(profile, file_key if profile in (1, 2) else "")
    return config


# --- what a connection carries -----------------------------------------------------------


def test_profile_1_sends_basic_credentials_over_plain_ws() -> None:
    backend = BackendSettings(url="ws://csms.example.com/ocpp", security_profile=1, authorization_key=FILE_KEY)
    link = link_security(backend, "CP-1", FILE_KEY.encode())
    assert link.ssl is None
    assert link.headers == {"Authorization": "Basic " + base64.b64encode(f"CP-1:{FILE_KEY}".encode()).decode()}


def test_profile_3_verifies_the_backend_and_presents_the_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    backend = BackendSettings(url="wss://csms.example.com/ocpp", security_profile=3, ca_file=pki.ca,
                              client_certificate=pki.client_cert, client_key=pki.client_key)
    link = link_security(backend, "CP-1", None)
    assert link.headers == {}
    assert link.ssl is not None
    assert link.ssl.verify_mode == ssl.CERT_REQUIRED and link.ssl.check_hostname
    assert link.ssl.minimum_version == ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in link.ssl.get_ca_certs()] == [c["subject"] for c in _certs(pki.ca)]  # only its CA


def _certs(path: Path) -> list[dict[str, object]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(path))
    return context.get_ca_certs()


@pytest.mark.parametrize(("url", "profile", "why"), [
    ("ws://csms.example.com/ocpp", 2, "does not go with a ws:// backend.url"),
    ("wss://csms.example.com/ocpp", 1, "does not go with a wss:// backend.url"),
    ("wss://csms.example.com/ocpp", 2, "needs backend.ca_file"),
    ("ws://csms.example.com/ocpp", 1, "needs an authorization key"),
])
def test_a_profile_that_cannot_be_met_is_an_error_never_a_weaker_connection(url: str, profile: int, why: str) -> None:
    backend = BackendSettings(url=url, security_profile=profile)
    with pytest.raises(SecurityError, match=why):
        link_security(backend, "CP-1", None)


# --- SecurityProfile and AuthorizationKey ------------------------------------------------


def test_security_profile_is_reported_read_write_to_1_6(state: ChargerState) -> None:
    """The whitepaper's SecurityProfile is RW: the backend raises it through the link's
    connection profiles (BackendLink.raise_security_profile); the table never stores it."""
    config = configuration(state, 2)
    known, unknown = config.report(["SecurityProfile"])
    assert [(k.key, k.readonly, k.value) for k in known] == [("SecurityProfile", False, "2")]


async def test_security_profile_is_not_a_stored_setting(state: ChargerState) -> None:
    assert await configuration(state, 1).change("SecurityProfile", "2") == "Rejected"


async def test_authorization_key_is_write_only(state: ChargerState) -> None:
    config = configuration(state, 1)
    assert await config.change("AuthorizationKey", OCTT_HEX) == "Accepted"
    known, unknown = config.report(None)
    assert "AuthorizationKey" not in {k.key for k in known}
    assert all(OCTT_HEX not in k.value for k in known)
    known, unknown = config.report(["AuthorizationKey", "HeartbeatInterval"])
    assert [k.key for k in known] == ["HeartbeatInterval"] and unknown == ["AuthorizationKey"]


@pytest.mark.parametrize(("value", "answer"), [
    (OCTT_HEX, "Accepted"),  # 19 bytes
    ("00" * 16, "Accepted"),  # 16 bytes, the least
    ("ab" * 20, "Accepted"),  # 20 bytes, the most
    ("00" * 15, "Rejected"),  # too short
    ("00" * 21, "Rejected"),  # too long
    (OCTT_HEX + "0", "Rejected"),  # half a byte
    ("password-in-plain-text-1234", "Rejected"),  # not hexadecimal, and too long for a password
    ("plain-password-16", "Accepted"),  # a password used as written, 16 to 20 characters
    ("plain-password-of-20", "Accepted"),
    ("short-password", "Rejected"),
    ("tab\tin-the-password", "Rejected"),
    (" padded-password-17", "Rejected"),
    ("", "Rejected"),
])
async def test_authorization_key_is_16_to_20_bytes_in_hexadecimal_or_a_plain_password(state: ChargerState, value: str,
                                                                       answer: str) -> None:
    assert await configuration(state, 2).change("AuthorizationKey", value) == answer


@pytest.mark.parametrize("profile", [0, 3])
async def test_authorization_key_is_rejected_when_the_profile_sends_no_password(state: ChargerState,
                                                                                profile: int) -> None:
    config = configuration(state, profile)
    assert await config.change("AuthorizationKey", OCTT_HEX) == "Rejected"
    assert config.authorization_key() is None


async def test_a_backend_set_key_is_kept_and_used_until_the_file_password_changes(state: ChargerState) -> None:
    config = configuration(state, 1)
    assert config.authorization_key() == FILE_KEY.encode()
    heard: list[str] = []
    config.subscribe(lambda name, value: heard.append(name))
    await config.change("AuthorizationKey", OCTT_HEX)
    assert heard == ["AuthorizationKey"]
    assert config.authorization_key() == OCTT_KEY.encode()
    assert configuration(state, 1).authorization_key() == OCTT_KEY.encode()  # after a restart too
    # The technician writes a new password into the file: it is the one to use.
    assert configuration(state, 1, file_key="new-file-password-98").authorization_key() == \
        b"new-file-password-98"


def test_the_file_key_in_hexadecimal_is_sent_as_the_bytes_it_spells(state: ChargerState) -> None:
    assert configuration(state, 1, file_key=OCTT_HEX).authorization_key() == OCTT_KEY.encode()
    assert configuration(state, 1, file_key=OCTT_HEX.lower()).authorization_key() == OCTT_KEY.encode()
    assert configuration(state, 1, file_key="0123456789abcdef").authorization_key() == b"0123456789abcdef"
