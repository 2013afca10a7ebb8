"""Token probes: what the app answers a bearer token outside its contract (issue 16).

Each probe mints one kind of token and says what `GET /api/me` answers it with. The tokens
are made the way an attacker with some knowledge would: a real one from the stack's own
OAuth2 client, altered; the ones that need a signature are signed here with the stack's
real key (read from inside the app's container), so that only the property under test is
wrong. `valid` is the probes' own control: the same minting, nothing wrong, must get 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from chaoslib.types import Configuration

from harness.chaos import engine
from harness.chaos.engine import activity
from harness.errors import InfrastructureError, NoSuchService
from harness.http import Http
from harness.target import secrets

__all__ = ["token_status"]

KINDS = ("valid", "wrong-key", "expired", "not-yet-valid", "no-expiry", "alg-none", "alg-HS512", "wrong-audience",
         "wrong-issuer", "junk-suffix", "revoked")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims: dict[str, Any], key: str, alg: str = "HS256") -> str:
    """A compact JWT of `claims`, signed HS256 with `key` (alg "none": unsigned; any other
    alg name is only written in the header, the signature stays HS256)."""
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    if alg == "none":
        return f"{head}.{body}."
    return f"{head}.{body}.{_b64(hmac.new(key.encode(), f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


def claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def issue(http: Http, url: str, client: tuple[str, str]) -> str:
    """A token the stack issues its own OAuth2 client (`client`: id and secret)."""
    form = {"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1]}
    answer = http.post(f"{url}/api/auth/token", data=form, timeout=5)
    if answer.status_code != 200:
        raise InfrastructureError(f"the stack gave its own client no token: {answer.status_code} {answer.text[:80]}")
    return str(answer.json()["access_token"])


def variant(kind: str, real: str, key: str, now: int) -> str:
    """`real` (a token the stack issued) made into a token of `kind`."""
    claims = claims_of(real)
    made = {
        "valid": lambda: mint(claims, key),
        "wrong-key": lambda: mint(claims, "not-the-stack-key-" + "x" * 20),
        "expired": lambda: mint({**claims, "exp": now - 1}, key),
        "not-yet-valid": lambda: mint({**claims, "nbf": now + 3600}, key),
        "no-expiry": lambda: mint({k: v for k, v in claims.items() if k != "exp"}, key),
        "alg-none": lambda: mint(claims, key, alg="none"),
        "alg-HS512": lambda: mint(claims, key, alg="HS512"),
        "wrong-audience": lambda: mint({**claims, "aud": "another-api"}, key),
        "wrong-issuer": lambda: mint({**claims, "iss": "someone-else"}, key),
        "junk-suffix": lambda: real + "!!",
    }
    if kind not in made:
        raise InfrastructureError(f"no token kind {kind!r}; the kinds are: {', '.join(KINDS)}")
    return made[kind]()


@activity
def token_status(kind: str = "valid", configuration: Configuration = None) -> int:
    """The status `GET /api/me` answers a token of `kind` (one of KINDS) with; 401 is a refusal."""
    if kind not in KINDS:
        raise InfrastructureError(f"no token kind {kind!r}; the kinds are: {', '.join(KINDS)}")
    driver = engine.driver(configuration)
    url, http = engine.target(configuration).lb_url, engine.http(configuration)
    real = issue(http, url, secrets.client_secret(driver))
    if kind == "revoked":
        revoked = http.post(f"{url}/api/auth/revoke", headers={"Authorization": f"Bearer {real}"}, timeout=5)
        if revoked.status_code != 204:
            raise InfrastructureError(f"the stack did not revoke its own token: {revoked.status_code}")
        token = real
    else:
        try:
            key = secrets.read(driver, "jwt_signing_key")
        except NoSuchService:  # the development profile: a plain-text variable
            key = secrets.values(driver, engine.settings(configuration).stack_dir).get("jwt_signing_key", "")
        if not key:
            raise InfrastructureError("the stack's signing key cannot be read")
        token = variant(kind, real, key, int(time.time()))
    return http.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code
