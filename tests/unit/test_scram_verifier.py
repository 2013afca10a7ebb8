"""target-stack/db/scram-verifier.py against RFC 7677's SCRAM-SHA-256 exchange: the
verifier made of the RFC's password and salt must check the RFC's client proof and give its
server signature, as PostgreSQL does with the verifier it stores."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys

from harness.config import PROJECT_ROOT
from tests.unit.scripts import load_script

SCRIPT = PROJECT_ROOT / "target-stack" / "db" / "scram-verifier.py"
scram = load_script("target-stack/db/scram-verifier.py", "scram_verifier")

# RFC 7677, section 3: user "user", password "pencil"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
AUTH_MESSAGE = (b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def parts(verifier: str) -> tuple[str, int, bytes, bytes, bytes]:
    method, rest = verifier.split("$", 1)
    head, keys = rest.split("$")
    iterations, salt = head.split(":")
    stored, server = keys.split(":")
    return method, int(iterations), base64.b64decode(salt), base64.b64decode(stored), base64.b64decode(server)


def test_the_verifier_checks_the_rfcs_client_proof_and_gives_its_server_signature() -> None:
    method, iterations, salt, stored_key, server_key = parts(scram.verifier("pencil", SALT))
    assert (method, iterations, salt) == ("SCRAM-SHA-256", 4096, SALT)
    client_signature = hmac.new(stored_key, AUTH_MESSAGE, "sha256").digest()
    client_key = bytes(a ^ b for a, b in zip(CLIENT_PROOF, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert hmac.new(server_key, AUTH_MESSAGE, "sha256").digest() == SERVER_SIGNATURE


def test_another_password_does_not_check() -> None:
    _, _, _, stored_key, server_key = parts(scram.verifier("pencil2", SALT))
    assert hmac.new(server_key, AUTH_MESSAGE, "sha256").digest() != SERVER_SIGNATURE
    client_signature = hmac.new(stored_key, AUTH_MESSAGE, "sha256").digest()
    client_key = bytes(a ^ b for a, b in zip(CLIENT_PROOF, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() != stored_key


def test_the_script_reads_stdin_and_salts_each_verifier_anew() -> None:
    made = [subprocess.run([sys.executable, str(SCRIPT)], input="s3cret\n", capture_output=True, text=True,
                           check=True, timeout=30).stdout.strip() for _ in range(2)]
    assert made[0] != made[1]
    for verifier in made:
        method, iterations, salt, _, _ = parts(verifier)
        assert (method, iterations, len(salt)) == ("SCRAM-SHA-256", 4096, 16)
        assert verifier == scram.verifier("s3cret", salt)  # the password without its newline
        assert "s3cret" not in verifier
    empty = subprocess.run([sys.executable, str(SCRIPT)], input="", capture_output=True, text=True, timeout=30,
                           check=False)
    assert (empty.returncode, empty.stderr.strip()) == (1, "scram-verifier: no password on stdin")
