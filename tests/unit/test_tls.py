"""The stack's TLS files (issue 16): a CA of its own that signs the database's certificate,
made once, renewed before it ends, and its old generations pruned. Against the fake engine;
the certificates are checked with `cryptography` and with OpenSSL's own verifier."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.config import Settings
from harness.errors import InfrastructureError
from harness.progress import Progress
from harness.target import tls
from tests.unit.fakedriver import FakeDriver

NOW = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)


def quiet() -> Progress:
    return Progress(quiet=True)


@pytest.mark.parametrize(("kind", "names", "host", "other", "client"), [
    ("db", ["db1", "db2", "db3", "dbrouter", "dbproxy", "backup", "offsite", "localhost"], "dbproxy", "etcd", True),
    ("edge", ["localhost", "lb"], "localhost", "db1", False),
])
def test_each_certificate_chains_to_the_ca_and_names_its_hosts(tmp_path: Path, kind: str, names: list[str],
                                                                host: str, other: str, client: bool) -> None:
    made = tls.make("devsim", NOW)
    ca_pem, cert_pem, key_pem = made["tls_ca"], made[f"tls_{kind}_cert"], made[f"tls_{kind}_key"]
    ca, cert = x509.load_pem_x509_certificate(ca_pem.encode()), x509.load_pem_x509_certificate(cert_pem.encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == names
    assert [str(a) for a in alt.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert (ExtendedKeyUsageOID.CLIENT_AUTH in usages) == client  # pgBackRest's hosts present the db one as clients
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=365)
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    # OpenSSL agrees, for the name a client connects by, and for no other
    (tmp_path / "ca.pem").write_text(ca_pem)
    (tmp_path / "cert.pem").write_text(cert_pem)
    ok = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "-verify_hostname", host, "cert.pem"],
                        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "-verify_hostname", other, "cert.pem"],
                           cwd=tmp_path, capture_output=True, text=True, check=False)
    assert wrong.returncode != 0
    assert "hostname mismatch" in wrong.stdout + wrong.stderr


def test_each_generation_has_its_own_ca() -> None:
    first, second = tls.make("devsim", NOW), tls.make("devsim", NOW)
    cert = x509.load_pem_x509_certificate(second["tls_db_cert"].encode())
    with pytest.raises(InvalidSignature):  # the same name, but signed by another key
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(first["tls_ca"].encode()))


def test_the_first_up_makes_a_generation_and_the_next_keeps_it() -> None:
    fake = FakeDriver()
    env = tls.ensure(fake, quiet(), NOW)
    assert env == {"TLS_CA_CONFIG": "devsim_config_tls_ca_20261201120000",
                   "TLS_DB_CERT_CONFIG": "devsim_config_tls_db_cert_20261201120000",
                   "TLS_EDGE_CERT_CONFIG": "devsim_config_tls_edge_cert_20261201120000",
                   "TLS_DB_KEY_SECRET": "devsim_secret_tls_db_key_20261201120000",
                   "TLS_EDGE_KEY_SECRET": "devsim_secret_tls_edge_key_20261201120000"}
    fake.calls.clear()
    assert tls.ensure(fake, quiet(), NOW + dt.timedelta(days=334)) == env  # 31 days left
    assert [c for c in fake.calls if c.startswith("create")] == []
    assert tls.ca_pem(fake) == fake.config_values["tls_ca_20261201120000"]


def test_a_certificate_within_30_days_of_its_end_is_renewed_and_the_old_pruned() -> None:
    fake = FakeDriver()
    tls.ensure(fake, quiet(), NOW)
    later = NOW + dt.timedelta(days=336)  # 29 days left
    env = tls.ensure(fake, quiet(), later)
    assert env["TLS_DB_KEY_SECRET"] == "devsim_secret_tls_db_key_20271102120000"
    assert tls.current(fake) == "20271102120000"
    assert set(tls.generations(fake)) == {"20261201120000", "20271102120000"}
    tls.prune(fake)
    assert set(tls.generations(fake)) == {"20271102120000"}


def test_a_generation_missing_a_file_is_made_anew() -> None:
    fake = FakeDriver()
    tls.ensure(fake, quiet(), NOW)
    fake.remove_secret("tls_db_key_20261201120000")  # by hand
    assert tls.current(fake) is None
    env = tls.ensure(fake, quiet(), NOW + dt.timedelta(seconds=5))
    assert env["TLS_CA_CONFIG"] == "devsim_config_tls_ca_20261201120005"


def test_save_ca_writes_the_current_ca_and_changes_nothing_process_wide(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    fake = FakeDriver()
    tls.ensure(fake, quiet(), NOW)
    settings = Settings(state_dir=tmp_path / "state")
    path = tls.save_ca(fake, settings)
    assert path == tmp_path / "state" / "devsim-ca.pem"
    assert path.read_text() == fake.config_values["tls_ca_20261201120000"]
    assert "REQUESTS_CA_BUNDLE" not in os.environ  # trust is carried by the HTTP session, not the process
    path.write_text(tls.make("devsim", NOW)["tls_ca"])  # a wrong CA left in the file (by hand, or an old stack's)
    assert tls.save_ca(fake, settings).read_text() == fake.config_values["tls_ca_20261201120000"]


def test_no_ca_yet_is_an_error_saying_what_to_do() -> None:
    with pytest.raises(InfrastructureError, match="the stack has no CA yet"):
        tls.ca_pem(FakeDriver())


def test_a_ca_file_that_cannot_be_written_is_one_error_naming_it(tmp_path: Path) -> None:
    fake = FakeDriver()
    tls.ensure(fake, quiet(), NOW)
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(InfrastructureError) as raised:
        tls.save_ca(fake, Settings(state_dir=blocker))
    assert raised.value.one_line().startswith(f"cannot write the stack's CA to {blocker / 'devsim-ca.pem'}: ")
    assert "DEVSIM_STATE_DIR" in raised.value.one_line()
