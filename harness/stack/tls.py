"""The stack's TLS: a certificate authority of its own and the database's server certificate,
made by `devsim up` and kept by the engine (the CA's and the certificate's files as Docker
configs, which are public; the server's private key as a Docker secret).

The CA's own key is never kept: it signs the server certificate and is dropped. Renewing is
therefore making a new generation (CA, key, certificate) and rolling the services onto it,
which `up` does when a file of the current generation is missing or its certificate ends
within RENEW_DAYS. Older generations go once nothing uses them.

Whoever checks a connection trusts the CA alone: PostgreSQL's replicas and `pg_rewind`
(verify-full), the app (node-pg, CA and host name), the exporters (verify-full). The CA is
public; `ca_pem` reads it back from the engine.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.driver import StackDriver
from harness.errors import InfrastructureError
from harness.progress import Progress

VALID_DAYS = 365
RENEW_DAYS = 30
# Every name a client reaches PostgreSQL by: the nodes (replicas, exporters), the router and
# the latency proxy (the app's path), and localhost.
DB_NAMES = ("db1", "db2", "db3", "dbrouter", "dbproxy", "localhost")
# short name prefix -> the stack.yml variable naming the current generation's object
CONFIGS = {"tls_ca": "TLS_CA_CONFIG", "tls_db_cert": "TLS_DB_CERT_CONFIG"}
SECRET = ("tls_db_key", "TLS_DB_KEY_SECRET")
ENV_NAMES = (*CONFIGS.values(), SECRET[1])
_GENERATION = re.compile(r"^(tls_ca|tls_db_cert|tls_db_key)_(\d{14})$")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DevOps Simulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make(stack: str, now: dt.datetime, names: tuple[str, ...] = DB_NAMES) -> tuple[str, str, str]:
    """(CA certificate, server certificate, server key), PEM, valid from `now` for VALID_DAYS."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{stack} stack CA {now:%Y-%m-%d %H:%M:%S}")
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=VALID_DAYS)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return _pem(ca), _pem(cert), key_pem


def generations(driver: StackDriver) -> dict[str, set[str]]:
    """{generation: the kinds of its objects the engine holds}."""
    found: dict[str, set[str]] = {}
    for name in [*driver.configs(), *driver.secrets()]:
        if m := _GENERATION.match(name):
            found.setdefault(m.group(2), set()).add(m.group(1))
    return found


def current(driver: StackDriver) -> str | None:
    whole = [g for g, kinds in generations(driver).items() if kinds == {"tls_ca", "tls_db_cert", "tls_db_key"}]
    return max(whole) if whole else None


def expires(cert_pem: str) -> dt.datetime:
    return x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc


def ensure(driver: StackDriver, progress: Progress, now: dt.datetime | None = None) -> dict[str, str]:
    """stack.yml's variables naming the current generation; a new one when there is none
    whole, or when its certificate ends within RENEW_DAYS."""
    now = now or dt.datetime.now(dt.UTC)
    generation = current(driver)
    if generation is not None:
        ends = expires(driver.configs()[f"tls_db_cert_{generation}"][1])
        if ends - now > dt.timedelta(days=RENEW_DAYS):
            return env(driver, generation)
        progress.step(f"the database's TLS certificate ends {ends:%Y-%m-%d}: making a new CA and certificate")
    else:
        progress.step("making the stack's CA and the database's TLS certificate")
    generation = now.strftime("%Y%m%d%H%M%S")
    ca, cert, key = make(driver.stack, now)
    driver.create_config(f"tls_ca_{generation}", ca)
    driver.create_config(f"tls_db_cert_{generation}", cert)
    driver.create_secret(f"tls_db_key_{generation}", key)
    return env(driver, generation)


def env(driver: StackDriver, generation: str) -> dict[str, str]:
    configs = driver.configs()
    found = {var: configs[f"{prefix}_{generation}"][0] for prefix, var in CONFIGS.items()}
    found[SECRET[1]] = driver.secrets()[f"{SECRET[0]}_{generation}"]
    return found


def prune(driver: StackDriver) -> None:
    """Removes the generations older than the current one (one still in use stays)."""
    keep = current(driver)
    for generation, kinds in generations(driver).items():
        if keep is None or generation >= keep:
            continue
        for kind in kinds:
            (driver.remove_secret if kind == "tls_db_key" else driver.remove_config)(f"{kind}_{generation}")


def ca_pem(driver: StackDriver) -> str:
    """The current CA's certificate, as the stack's clients trust it."""
    generation = current(driver)
    if generation is None:
        raise InfrastructureError("the stack has no CA yet", hint="run `devsim up`")
    return driver.configs()[f"tls_ca_{generation}"][1]
