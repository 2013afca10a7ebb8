"""The off-loopback probe and the token minting (issue 16), without the stack.

The probe runs for real: it makes its own network namespace and veth pair (root and `ip`, as
the port-fence tests need) and must find a listener of the test's on every address, and not
one on loopback only. The token variants are checked claim by claim: each differs from the
stack's token in the one property its name says."""

from __future__ import annotations

import hashlib
import hmac
import socket

import pytest

from harness.chaos import offhost, tokens


def test_the_probe_finds_a_port_open_to_every_address_and_not_a_loopback_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("0.0.0.0", 0)) as everywhere, socket.create_server(("127.0.0.1", 0)) as loopback:
        open_port, closed_port = everywhere.getsockname()[1], loopback.getsockname()[1]
        monkeypatch.setenv("DEVSIM_LB_PORT", str(open_port))
        monkeypatch.setenv("DEVSIM_LB_TLS_PORT", str(closed_port))
        monkeypatch.setenv("DEVSIM_PROMETHEUS_PORT", "1")  # nothing listens on these
        monkeypatch.setenv("DEVSIM_PUSHGATEWAY_PORT", "2")
        monkeypatch.setenv("DEVSIM_MAILSINK_PORT", "3")
        assert offhost.ports_answering_off_loopback() == str(open_port)


REAL = tokens.mint({"sub": "loadtest", "jti": "j1", "iss": "devsim-app", "aud": "devsim-api", "iat": 100, "nbf": 100,
                    "exp": 400}, "k" * 40)


@pytest.mark.parametrize(("kind", "changed"), [
    ("valid", {}),
    ("expired", {"exp": 199}),
    ("not-yet-valid", {"nbf": 3800}),
    ("wrong-audience", {"aud": "another-api"}),
    ("wrong-issuer", {"iss": "someone-else"}),
])
def test_each_variant_changes_only_its_claim(kind: str, changed: dict[str, object]) -> None:
    made = tokens.variant(kind, REAL, "k" * 40, now=200)
    assert tokens.claims_of(made) == {**tokens.claims_of(REAL), **changed}
    head, body, mac = made.split(".")
    expected = hmac.new(b"k" * 40, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert mac == tokens._b64(expected)


def test_the_unsigned_the_unexpiring_and_the_junk_variants() -> None:
    assert tokens.variant("alg-none", REAL, "k" * 40, now=200).endswith(".")
    assert "exp" not in tokens.claims_of(tokens.variant("no-expiry", REAL, "k" * 40, now=200))
    assert tokens.variant("junk-suffix", REAL, "k" * 40, now=200) == REAL + "!!"
    wrong = tokens.variant("wrong-key", REAL, "k" * 40, now=200)
    assert tokens.claims_of(wrong) == tokens.claims_of(REAL)
    assert wrong.split(".")[2] != REAL.split(".")[2]


def test_an_unknown_kind_names_the_kinds() -> None:
    with pytest.raises(Exception, match="no token kind 'forged'; the kinds are: valid, wrong-key"):
        tokens.token_status("forged")
