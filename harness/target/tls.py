"""The stack's TLS: a certificate authority of its own and two server certificates, the
database's and the edge's (the load balancer's HTTPS), made by `devsim up` and kept by the
engine (the CA's and the certificates' files as Docker configs, which are public; the
servers' private keys as Docker secrets).

The CA's own key is never kept: it signs the server certificate and is dropped. Renewing is
therefore making a new generation (CA, key, certificate) and rolling the services onto it,
which `up` does when a file of the current generation is missing or its certificate ends
within RENEW_DAYS. Older generations go once nothing uses them.

Whoever checks a connection trusts the CA alone: PostgreSQL's replicas and `pg_rewind`
(verify-full), the app (node-pg, CA and host name), the exporters (verify-full), and on the
host the harness, Locust and the probes, which read it from `Settings.ca_file` (`save_ca`
writes it there from the engine).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.config import Settings
from harness.driver import SecretOps
from harness.errors import InfrastructureError
from harness.progress import Progress

VALID_DAYS = 365
RENEW_DAYS = 30
# Every name a client reaches PostgreSQL by: the nodes (replicas, exporters), the router and
# the latency proxy (the app's path), and localhost.
# The database side, as the stack reaches it by name: the nodes, the router and proxy, and
# pgBackRest's repository hosts (backup, offsite), which also present it as a client.
DB_NAMES = ("db1", "db2", "db3", "dbrouter", "dbproxy", "backup", "offsite", "localhost")
# The edge: as the host reaches it (and as the stack's own containers would, by name).
EDGE_NAMES = ("localhost", "lb")
# short name prefix -> the stack.yml variable naming the current generation's object
CONFIGS = {"tls_ca": "TLS_CA_CONFIG", "tls_db_cert": "TLS_DB_CERT_CONFIG", "tls_edge_cert": "TLS_EDGE_CERT_CONFIG"}
SECRETS = {"tls_db_key": "TLS_DB_KEY_SECRET", "tls_edge_key": "TLS_EDGE_KEY_SECRET"}
ENV_NAMES = (*CONFIGS.values(), *SECRETS.values())
KINDS = frozenset({*CONFIGS, *SECRETS})
_GENERATION = re.compile(r"^(tls_ca|tls_db_cert|tls_db_key|tls_edge_cert|tls_edge_key)_(\d{14})$")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DevOps Simulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ca(stack: str, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{stack} stack CA {now:%Y-%m-%d %H:%M:%S}")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _server(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, names: tuple[str, ...],
            now: dt.datetime, client: bool = False) -> tuple[str, str]:
    """(certificate, key), PEM, for `names` and 127.0.0.1, signed by the CA; `client`: it
    may also authenticate a client (pgBackRest's hosts present it to one another)."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, *([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])]
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return _pem(cert), key_pem


def make(stack: str, now: dt.datetime) -> dict[str, str]:
    """A generation: {kind: PEM} for every kind, valid from `now` for VALID_DAYS."""
    ca, ca_key = _ca(stack, now)
    db_cert, db_key = _server(ca, ca_key, DB_NAMES, now, client=True)
    edge_cert, edge_key = _server(ca, ca_key, EDGE_NAMES, now)
    return {"tls_ca": _pem(ca), "tls_db_cert": db_cert, "tls_db_key": db_key,
            "tls_edge_cert": edge_cert, "tls_edge_key": edge_key}


def generations(driver: SecretOps) -> dict[str, set[str]]:
    """{generation: the kinds of its objects the engine holds}."""
    found: dict[str, set[str]] = {}
    for name in [*driver.configs(), *driver.secrets()]:
        if m := _GENERATION.match(name):
            found.setdefault(m.group(2), set()).add(m.group(1))
    return found


def current(driver: SecretOps) -> str | None:
    whole = [g for g, kinds in generations(driver).items() if kinds == KINDS]
    return max(whole) if whole else None


def expires(cert_pem: str) -> dt.datetime:
    return x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc


def names_of(cert_pem: str) -> set[str]:
    """The DNS names a certificate is for."""
    alt = x509.load_pem_x509_certificate(cert_pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return set(alt.get_values_for_type(x509.DNSName))


def ensure(driver: SecretOps, progress: Progress, now: dt.datetime | None = None) -> dict[str, str]:
    """stack.yml's variables naming the current generation; a new one when there is none
    whole, or when its certificate ends within RENEW_DAYS."""
    now = now or dt.datetime.now(dt.UTC)
    generation = current(driver)
    if generation is not None:
        configs = driver.configs()
        ends = min(expires(configs[f"{kind}_{generation}"][1]) for kind in ("tls_db_cert", "tls_edge_cert"))
        missing = set(DB_NAMES) - names_of(configs[f"tls_db_cert_{generation}"][1])
        if ends - now > dt.timedelta(days=RENEW_DAYS) and not missing:
            return env(driver, generation)
        progress.step(f"the database certificate is not for {', '.join(sorted(missing))}: making a new CA and "
                      "certificates" if missing else
                      f"the stack's TLS certificates end {ends:%Y-%m-%d}: making a new CA and certificates")
    else:
        progress.step("making the stack's CA and its TLS certificates (database, edge)")
    generation = now.strftime("%Y%m%d%H%M%S")
    for kind, pem in make(driver.stack, now).items():
        (driver.create_secret if kind in SECRETS else driver.create_config)(f"{kind}_{generation}", pem)
    return env(driver, generation)


def env(driver: SecretOps, generation: str) -> dict[str, str]:
    configs, secrets = driver.configs(), driver.secrets()
    found = {var: configs[f"{kind}_{generation}"][0] for kind, var in CONFIGS.items()}
    found.update({var: secrets[f"{kind}_{generation}"] for kind, var in SECRETS.items()})
    return found


def prune(driver: SecretOps) -> None:
    """Removes the generations older than the current one (one still in use stays)."""
    keep = current(driver)
    for generation, kinds in generations(driver).items():
        if keep is None or generation >= keep:
            continue
        for kind in kinds:
            (driver.remove_secret if kind in SECRETS else driver.remove_config)(f"{kind}_{generation}")


def ca_pem(driver: SecretOps) -> str:
    """The current CA's certificate, as the stack's clients trust it."""
    generation = current(driver)
    if generation is None:
        raise InfrastructureError("the stack has no CA yet", hint="run `devsim up`")
    return driver.configs()[f"tls_ca_{generation}"][1]


def save_ca(driver: SecretOps, settings: Settings) -> Path:
    """Writes the current CA to `settings.ca_file` when it changed. Nothing process-wide
    changes: the harness's HTTP session (`harness.http.Http`) and Locust (DEVSIM_CA_FILE)
    are each given that path."""
    pem = ca_pem(driver)
    path = settings.ca_file
    try:
        if not path.exists() or path.read_text() != pem:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(pem)
            tmp.replace(path)
    except OSError as exc:
        raise InfrastructureError(f"cannot write the stack's CA to {path}: {exc.strerror or exc}",
                                  hint="set DEVSIM_STATE_DIR to a folder you can write") from exc
    return path
