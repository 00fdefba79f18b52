"""The [backend] security keys as a technician meets them: what loads, what each mistake says,
and which secret files are warned about."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent.settings import ConfigError, load_settings, parse_settings, render_settings

from .certs import Pki, make_pki
from .secret_scan import secret

PASSWORD = secret("s3cr3t-Passw0rd-4-b")
KEY_FORMS = ("32 to 40 hexadecimal digits (16 to 20 bytes, decoded before sending) or 16 to 40 other characters "
             "(a password sent as it is)")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "tls")


def config(tmp_path: Path, backend: str, url: str = "ws://127.0.0.1:9000/ocpp", rest: str = "") -> tuple[str, Path]:
    text = f'[charge_point]\nid = "LADDA-0001"\n\n[backend]\nurl = "{url}"\n{backend}{rest}'
    return text, tmp_path / "ladda.toml"


def loads(tmp_path: Path, backend: str, url: str = "ws://127.0.0.1:9000/ocpp"):  # type: ignore[no-untyped-def]
    text, source = config(tmp_path, backend, url)
    return parse_settings(text, source)


def errors(tmp_path: Path, backend: str, url: str = "ws://127.0.0.1:9000/ocpp") -> list[str]:
    text, source = config(tmp_path, backend, url)
    with pytest.raises(ConfigError) as info:
        parse_settings(text, source)
    return [e.removeprefix(f"{source}:") for e in info.value.errors]


def key_file(tmp_path: Path, content: str = PASSWORD + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "authorization-key"
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


# --- what loads -------------------------------------------------------------------------


def test_each_profile_loads_with_what_it_needs(tmp_path: Path, pki: Pki) -> None:
    keyf = key_file(tmp_path)
    p0 = loads(tmp_path, "security_profile = 0\n")
    p1 = loads(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\n')
    p2 = loads(tmp_path, f'security_profile = 2\nauthorization_key_file = "{keyf}"\nca_file = "{pki.ca}"\n',
               url="wss://localhost:9000/ocpp")
    p3 = loads(tmp_path, f'security_profile = 3\nca_file = "{pki.ca}"\nclient_certificate = "{pki.client_cert}"\n'
                         f'client_key = "{pki.client_key}"\n', url="wss://localhost:9000/ocpp")
    assert [p.backend.security_profile for p in (p0, p1, p2, p3)] == [0, 1, 2, 3]
    assert p1.backend.authorization_key == PASSWORD == p2.backend.authorization_key  # the final newline is not part
    assert p0.backend.authorization_key == p3.backend.authorization_key == ""
    assert p2.backend.ca_file == pki.ca and p3.backend.client_key == pki.client_key
    assert p1.warnings == p2.warnings == p3.warnings == ()


@pytest.mark.parametrize(("backend", "url", "implied"), [
    ("", "ws://127.0.0.1:9000/ocpp", 0),
    (f'authorization_key = "{PASSWORD}"\n', "ws://127.0.0.1:9000/ocpp", 1),  # as before security_profile existed
    (f'authorization_key = "{PASSWORD}"\nca_file = "CA"\n', "wss://localhost/ocpp", 2),
    ('ca_file = "CA"\nclient_certificate = "CERT"\nclient_key = "KEY"\n', "wss://localhost/ocpp", 3),
])
def test_without_security_profile_the_url_and_keys_imply_it(tmp_path: Path, pki: Pki, backend: str, url: str,
                                                            implied: int) -> None:
    backend = backend.replace("CA", str(pki.ca)).replace("CERT", str(pki.client_cert)).replace("KEY", str(pki.client_key))
    s = loads(tmp_path, backend, url)
    assert s.backend.security_profile == implied
    assert tomllib.loads(render_settings(s))["backend"]["security_profile"] == implied  # check-config shows it


def test_relative_files_are_relative_to_the_configuration_file(tmp_path: Path, pki: Pki) -> None:
    s = loads(tmp_path, 'security_profile = 2\nauthorization_key_file = "authorization-key"\nca_file = "tls/ca.pem"\n',
              url="wss://localhost/ocpp") if key_file(tmp_path) else None
    assert s is not None
    assert s.backend.authorization_key_file == tmp_path / "authorization-key"
    assert s.backend.ca_file == tmp_path / "tls" / "ca.pem"


def test_a_password_from_its_file_is_masked_and_reads_back_the_same(tmp_path: Path) -> None:
    keyf = key_file(tmp_path)
    text, source = config(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\n')
    s = parse_settings(text, source)
    out = render_settings(s)
    assert PASSWORD not in out and PASSWORD not in repr(s)
    assert 'authorization_key = ""  # read from authorization_key_file' in out
    assert parse_settings(out, source) == s


# --- what each mistake says -------------------------------------------------------------


def test_profile_2_with_a_ws_url_is_refused(tmp_path: Path, pki: Pki) -> None:
    keyf = key_file(tmp_path)
    assert errors(tmp_path, f'security_profile = 2\nauthorization_key_file = "{keyf}"\nca_file = "{pki.ca}"\n') == [
        "6: backend.security_profile = 2: profile 2 needs TLS: backend.url must start with wss://, not ws:// "
        "(the agent never falls back to a lower profile)",
    ]


def test_profile_1_with_a_wss_url_is_refused(tmp_path: Path) -> None:
    keyf = key_file(tmp_path)
    [error] = errors(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\n', url="wss://localhost/ocpp")
    assert error.startswith("6: backend.security_profile = 1: profile 1 uses a plain ws:// URL, but backend.url is wss://")


@pytest.mark.parametrize("profile", [1, 2])
def test_profiles_1_and_2_need_a_password(tmp_path: Path, pki: Pki, profile: int) -> None:
    url = "wss://localhost/ocpp" if profile == 2 else "ws://localhost/ocpp"
    [error] = errors(tmp_path, f'security_profile = {profile}\nca_file = "{pki.ca if profile == 2 else ""}"\n', url)
    assert error == (f"6: backend.security_profile = {profile}: profile {profile} sends an HTTP Basic password: "
                     "set backend.authorization_key_file (or backend.authorization_key)")


def test_a_wss_url_alone_says_what_it_needs(tmp_path: Path) -> None:
    [error] = errors(tmp_path, "", url="wss://csms.example.com/ocpp")
    assert error == ('5: backend.url = "wss://csms.example.com/ocpp": a wss:// URL needs security profile 2 '
                     "(set backend.authorization_key_file) or 3 (set backend.client_certificate and "
                     "backend.client_key), with backend.ca_file")


@pytest.mark.parametrize("profile", [0, 3])
def test_a_password_the_profile_would_not_send_is_refused_without_showing_it(tmp_path: Path, pki: Pki,
                                                                             profile: int) -> None:
    url = "wss://localhost/ocpp" if profile == 3 else "ws://localhost/ocpp"
    tls = (f'ca_file = "{pki.ca}"\nclient_certificate = "{pki.client_cert}"\nclient_key = "{pki.client_key}"\n'
           if profile == 3 else "")
    [error] = errors(tmp_path, f'security_profile = {profile}\nauthorization_key = "{PASSWORD}"\n{tls}', url)
    assert error.startswith(f"7: backend.authorization_key = ****: not used with security profile {profile}")
    assert PASSWORD not in error


def test_tls_profiles_need_a_ca_file_and_there_is_no_way_around_it(tmp_path: Path) -> None:
    keyf = key_file(tmp_path)
    assert errors(tmp_path, f'security_profile = 2\nauthorization_key_file = "{keyf}"\n', "wss://localhost/ocpp") == [
        "4: backend.ca_file: required with security profile 2: the PEM file of the CA that signed the backend's "
        "certificate (it is always verified)",
    ]
    text, source = config(tmp_path, 'security_profile = 2\nverify = false\n', "wss://localhost/ocpp")
    with pytest.raises(ConfigError) as info:
        parse_settings(text, source)
    assert any("backend.verify: unknown key" in e for e in info.value.errors)


def test_profile_3_needs_its_certificate_and_key(tmp_path: Path, pki: Pki) -> None:
    assert errors(tmp_path, f'security_profile = 3\nca_file = "{pki.ca}"\n', "wss://localhost/ocpp") == [
        "4: backend.client_certificate: required with security profile 3",
        "4: backend.client_key: required with security profile 3",
    ]


def test_tls_files_for_a_later_upgrade_are_allowed_under_a_lower_profile(tmp_path: Path, pki: Pki) -> None:
    """A CSMS root and a client certificate are what a security profile upgrade by the
    backend needs (A05, the 1.6 whitepaper's SecurityProfile): a profile 1 charger may hold them."""
    keyf = key_file(tmp_path)
    s = loads(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\nca_file = "{pki.ca}"\n'
                        f'client_certificate = "{pki.client_cert}"\nclient_key = "{pki.client_key}"\n')
    assert s.backend.ca_file == pki.ca and s.backend.client_key == pki.client_key


def test_unusable_tls_files_are_named_each_with_its_problem(tmp_path: Path, pki: Pki) -> None:
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("hello\n")
    found = errors(tmp_path, f'security_profile = 3\nca_file = "{not_pem}"\nclient_certificate = "{pki.client_cert}"\n'
                             f'client_key = "{pki.server_key}"\n', "wss://localhost/ocpp")
    assert found == [
        f'7: backend.ca_file = "{not_pem}": holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
        f'9: backend.client_key = "{pki.server_key}": does not belong to backend.client_certificate '
        "(key values mismatch)",
    ]
    missing = tmp_path / "nowhere.pem"
    [error] = errors(tmp_path, f'security_profile = 3\nca_file = "{missing}"\nclient_certificate = "{pki.client_cert}"\n'
                               f'client_key = "{pki.client_key}"\n', "wss://localhost/ocpp")
    assert error == f'7: backend.ca_file = "{missing}": file not found ({missing})'


def test_an_encrypted_client_key_is_refused_rather_than_prompted_for(tmp_path: Path, pki: Pki) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"passphrase")))
    [error] = errors(tmp_path, f'security_profile = 3\nca_file = "{pki.ca}"\nclient_certificate = "{pki.client_cert}"\n'
                               f'client_key = "{encrypted}"\n', "wss://localhost/ocpp")
    assert error.endswith("is encrypted; the agent needs the key unencrypted (protect it with mode 600)")


@pytest.mark.parametrize(("content", "expected"), [
    ("short\n", f"its content must be {KEY_FORMS}"),
    ("\n", "is empty; write the password on its one line"),
    (PASSWORD * 3, f"its content must be {KEY_FORMS}"),
    (" " + PASSWORD, f"its content must not begin or end with blanks (spaces, tabs); it must be {KEY_FORMS}"),
])
def test_a_bad_password_file_says_why_without_showing_the_password(tmp_path: Path, content: str,
                                                                   expected: str) -> None:
    keyf = key_file(tmp_path, content)
    [error] = errors(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\n')
    assert error.startswith("7: backend.authorization_key_file = ") and error.endswith(f": {expected} ({keyf})")
    assert not content.strip() or content.strip() not in error


def test_the_password_is_set_once(tmp_path: Path) -> None:
    key_file(tmp_path)
    # Relative to the file's directory, so the echoed value stays short whatever tmp_path is.
    assert errors(tmp_path, f'authorization_key = "{PASSWORD}"\nauthorization_key_file = "authorization-key"\n') == [
        '7: backend.authorization_key_file = "authorization-key": set the password either here or in '
        "backend.authorization_key, not both",
    ]
    assert errors(tmp_path, 'security_profile = 1\nauthorization_key_file = "missing-key"\n') == [
        f'7: backend.authorization_key_file = "missing-key": file not found ({tmp_path / "missing-key"})',
    ]


def test_every_security_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    text, source = config(tmp_path, 'security_profile = 2\nclient_key = "k.pem"\n',
                          rest="[connectors]\ncount = 0\n[ocpp]\nSecurityProfile = 3\n")
    with pytest.raises(ConfigError) as info:
        parse_settings(text, source)
    shown = [e.removeprefix(f"{source}:") for e in info.value.errors]
    assert [e.split(":")[0] for e in shown] == ["4", "6", "6", "7", "9", "11"]
    assert "11: ocpp.SecurityProfile = 3: set it as backend.security_profile" in shown


# --- secret files others can read -------------------------------------------------------


def test_a_password_file_others_can_read_is_warned_about_with_the_fix(tmp_path: Path) -> None:
    keyf = key_file(tmp_path, mode=0o644)
    s = loads(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\n')
    assert s.warnings == (
        f"{keyf}: mode 0644 lets other users reach the HTTP Basic password; "
        f"make it readable by the service user only: chmod 600 {keyf}",
    )
    keyf.chmod(0o400)
    assert loads(tmp_path, f'security_profile = 1\nauthorization_key_file = "{keyf}"\n').warnings == ()


def test_a_client_key_others_can_read_is_warned_about(tmp_path: Path, pki: Pki) -> None:
    pki.client_key.chmod(0o640)
    s = loads(tmp_path, f'security_profile = 3\nca_file = "{pki.ca}"\nclient_certificate = "{pki.client_cert}"\n'
                        f'client_key = "{pki.client_key}"\n', "wss://localhost/ocpp")
    assert s.warnings == (
        f"{pki.client_key}: mode 0640 lets other users reach this charger's private key; "
        f"make it readable by the service user only: chmod 600 {pki.client_key}",
    )


def test_a_configuration_file_holding_the_password_is_warned_about_when_others_can_read_it(tmp_path: Path) -> None:
    text, source = config(tmp_path, f'authorization_key = "{PASSWORD}"\n')
    source.write_text(text)
    source.chmod(0o644)
    [warning] = load_settings(source).warnings
    assert warning.startswith(f"{source}: mode 0644 lets other users read backend.authorization_key")
    assert warning.endswith(f"chmod 600 {source}")
    source.chmod(0o600)
    assert load_settings(source).warnings == ()
    source.write_text(config(tmp_path, "")[0])  # no password in it: nothing to protect
    source.chmod(0o644)
    assert load_settings(source).warnings == ()


def test_every_spelling_of_the_key_is_kept_out_of_the_logs() -> None:
    from agent.settings.security import secret_forms

    hex_key = "OCA_OCTT_admin_test".encode().hex()
    assert secret_forms(hex_key) == [hex_key, hex_key.upper(), "OCA_OCTT_admin_test"]
    assert secret_forms(PASSWORD) == [PASSWORD]
    assert secret_forms("") == []
    assert secret_forms("ff" * 16) == ["ff" * 16, "FF" * 16]  # bytes that are not text: the digits only
