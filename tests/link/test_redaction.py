"""No secret in any log line: the one redaction point, with each kind of secret, on every
path a line takes (our events, the libraries' records, tracebacks, the log file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from agent.redaction import forget_secrets, redact_text, register_secret

KEY_HEX = "3132333435363738393031323334353637383930"  # "12345678901234567890"
PEM_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIGx4dGhpc2lzbm90YXJlYWxrZXk=\n-----END EC PRIVATE KEY-----"


def run_logging(tmp_path, body: str) -> str:
    """Run ``body`` in a fresh process whose logging is set up as the agent's is (JSON on
    stdout, the log file); return everything it wrote to stdout, stderr and the file."""
    path = tmp_path / "logs" / "ladda.log"
    script = textwrap.dedent(f"""
        import logging, pathlib, structlog
        from agent import logs
        from agent.redaction import register_secret
        logs.configure("debug", "json", ["file-password-1"], file=pathlib.Path({str(path)!r}), file_bytes=1 << 20)
        log = structlog.get_logger("agent.test")
    """) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "JOURNAL_STREAM": "1:1"})
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr + (path.read_text() if path.exists() else "")


@pytest.mark.parametrize(("text", "secret"), [
    ("ftp://user:PASSWORD9@host/dir/", "PASSWORD9"),
    ("location=https://op:s3cr3t!x@files.example/fw.bin ok", "s3cr3t!x"),
    ("Authorization: Basic Q1AtMToxMjM0NTY3ODkwMTIzNDU2", "Q1AtMToxMjM0NTY3ODkwMTIzNDU2"),
    (f"key follows {PEM_KEY} end", "MHcCAQEEIGx4dGhpc2lzbm90YXJlYWxrZXk="),
])
def test_secrets_recognised_by_their_shape(text, secret):
    assert secret not in redact_text(text)
    assert "****" in redact_text(text)


def test_a_registered_secret_is_masked_in_any_text_and_so_is_its_decoding():
    forget_secrets()
    register_secret(KEY_HEX)
    assert redact_text(f"value {KEY_HEX}!") == "value ****!"
    assert redact_text("password 12345678901234567890 sent") == "password **** sent"
    forget_secrets()


def test_secrets_hidden_in_odd_places_are_masked_too():
    from dataclasses import dataclass

    from agent.redaction import Redactor

    @dataclass
    class Holder:
        password: str

    forget_secrets()
    register_secret(KEY_HEX.lower())
    deep: object = KEY_HEX
    for _ in range(20):
        deep = [deep]
    event = Redactor()(None, "info", {
        "event": "odd places", "deep": deep, "raw": KEY_HEX.upper().encode(), "obj": Holder("pw-in-object"),
        "keys": {f"by {KEY_HEX}": 1}, "auth_password": "field-1", "apiKey": "field-2", "authKey": "field-3",
        "url": "ftp://user:p@ss/w0rd@host/dir", "upper": KEY_HEX.upper(), "key": "HeartbeatInterval",
    })
    text = repr(event)
    for secret in (KEY_HEX.lower(), KEY_HEX.upper(), "pw-in-object", "field-1", "field-2", "field-3", "ss/w0rd"):
        assert secret not in text, secret
    assert event["key"] == "HeartbeatInterval"  # a configuration key's name is no secret
    forget_secrets()


def test_every_path_of_a_log_line_is_redacted(tmp_path):
    text = run_logging(tmp_path, f"""
        register_secret({KEY_HEX!r})
        log.info("event field", value={KEY_HEX!r}, location="ftp://u:urlpass@h/", nested={{"password": "pw-in-dict"}})
        log.info("secret field names", authorization_key="field-secret", basic_auth_password="bap-secret")
        logging.getLogger("websockets.client").warning("library record with %s and file-password-1", {KEY_HEX!r})
        try:
            raise ValueError("failed with key {KEY_HEX} at ftp://u:tbpass@h/")
        except ValueError:
            log.exception("a traceback")
        log.info("a list", items=["x {KEY_HEX}", {{"token": "tok-secret"}}])
    """)
    for secret in (KEY_HEX, "urlpass", "pw-in-dict", "field-secret", "bap-secret", "file-password-1", "tbpass",
                   "tok-secret"):
        assert secret not in text, secret
    assert text.count("****") >= 18  # each line on stdout and in the file
    assert "a traceback" in text and "ValueError" in text  # the traceback is kept, only the secret goes
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line.get("location") == "ftp://u:****@h/" for line in lines)


def test_a_repeated_kind_is_logged_once_a_minute_with_a_count(tmp_path):
    text = run_logging(tmp_path, """
        from agent.link.throttle import Throttle
        now = [0.0]
        throttle = Throttle(window_s=60, clock=lambda: now[0])
        flags = []
        for second in range(0, 200):
            now[0] = float(second)
            flags.append(throttle.note("frame:bad", "refused a frame"))
            throttle.note("call:other", "refused a request")
        assert flags.count(True) == 4, flags  # at 0, 60, 120 and 180 s
        throttle.flush()
    """)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]  # stdout, then the file
    refused = [line for line in lines if line["event"] == "refused a frame"]
    assert len(refused) == 8  # 4 on stdout, 4 in the file
    assert refused[1]["similar_since_last_logged"] == 59
    # 181..199 were counted, and said when the connection ended
    assert any(line.get("counts", {}).get("frame:bad") == 19 for line in lines)


def test_counts_are_said_at_most_once_a_window_however_often_the_backend_reconnects(tmp_path):
    text = run_logging(tmp_path, """
        from agent.link.throttle import Throttle
        now = [0.0]
        throttle = Throttle(window_s=60, clock=lambda: now[0])
        for connection in range(100):  # a backend that sends 3 bad frames and reconnects, every 0.5 s
            now[0] = connection * 0.5
            for kind in ("a", "b", "c"):
                throttle.note(kind, "refused a frame")
            throttle.flush()
    """)
    assert text.count('"refused a frame"') == 2 * 3  # stdout and the file: each kind once
    assert text.count("not logged one by one") == 2 * 1


def test_the_number_of_kinds_is_bounded(tmp_path):
    text = run_logging(tmp_path, """
        from agent.link.throttle import Throttle
        throttle = Throttle(window_s=60, clock=lambda: 0.0)
        for n in range(10_000):
            throttle.note(f"kind-{n}", "refused")
    """)
    assert text.count('"refused"') <= 2 * 65


def test_the_diagnostics_archive_cleans_old_log_lines_again(tmp_path):
    """A log file written before a secret was known (or by an older release) leaves the
    charger cleaned: the archive's lines pass the same redaction step."""
    import io

    from agent.diagnostics import Window, write_logs

    forget_secrets()
    old = tmp_path / "ladda.log"
    old.write_text(json.dumps({"event": "x", "timestamp": "2026-01-01T00:00:00Z",
                               "url": "ftp://u:oldpass@host/", "key": KEY_HEX}) + "\n")
    register_secret(KEY_HEX)
    out = io.BytesIO()
    assert write_logs([old], Window(), out) == 1
    text = out.getvalue().decode()
    assert "oldpass" not in text and KEY_HEX not in text and json.loads(text)["url"] == "ftp://u:****@host/"
    forget_secrets()
