#!/usr/bin/env python3
"""Prints the SCRAM-SHA-256 verifier of the password on stdin, as PostgreSQL stores it:
SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (RFC 5802, RFC 7677).

`ALTER ROLE ... PASSWORD '<verifier>'` then sets the password without the password itself
reaching the server: a failing statement is logged with its text, and pg_monitor's members
see running statements in pg_stat_activity. The stack's passwords are random base64, which
SASLprep leaves as they are.
"""

import base64
import hashlib
import hmac
import os
import sys

ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


if __name__ == "__main__":
    secret = sys.stdin.read().strip()
    if not secret:
        sys.exit("scram-verifier: no password on stdin")
    print(verifier(secret, os.urandom(16)))
