"""Test certificates made on the fly with ``cryptography``: a CA, server and client
certificates signed by it, and NSS databases built from them with NSS's own tools."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, password: bytes | None = None) -> bytes:
        enc = (serialization.BestAvailableEncryption(password) if password
               else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8, enc)

    def write_pem(self, path: Path, with_key: bool = True, password: bytes | None = None,
                  chain: list["Issued"] = ()) -> Path:
        data = self.cert_pem + b"".join(c.cert_pem for c in chain)
        if with_key:
            data += self.key_pem(password)
        path.write_bytes(data)
        os.chmod(path, 0o600)
        return path

    def p12(self, name: str, password: bytes, ca: "Issued | None" = None) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            name.encode(), self.key, self.cert, [ca.cert] if ca else None,
            serialization.BestAvailableEncryption(password))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nutpy tests")])


def _builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2)))


def make_ca(cn: str = "nutpy test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(cn, _name(cn), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def issue(ca: Issued, cn: str, dns: list[str] = (), ips: list[str] = (),
          client: bool = False) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i))
                                            for i in ips]
    b = (_builder(cn, ca.cert.subject, key.public_key())
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                               else ExtendedKeyUsageOID.SERVER_AUTH]),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca.key.public_key()), critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return Issued(b.sign(ca.key, hashes.SHA256()), key)


def have_nss_tools() -> bool:
    return bool(shutil.which("certutil") and shutil.which("pk12util"))


NSS_MISSING = "NSS tools missing (apt-get install -y libnss3-tools)"


def require_nss_tools() -> None:
    from support.harness import require

    require(have_nss_tools(), NSS_MISSING)


def make_nss_db(directory: Path, identities: dict[str, Issued] = {},
                cas: dict[str, tuple[Issued, str]] = {}, password: str = "",
                issuer: Issued | None = None) -> Path:
    """An NSS sql: database holding ``identities`` (nickname -> cert+key) and ``cas``
    (nickname -> (cert, trust flags such as "CT,,")); ``password`` protects its keys."""
    directory.mkdir(parents=True, exist_ok=True)
    db = f"sql:{directory}"
    pwfile = directory.parent / f".{directory.name}.pw"
    pwfile.write_text(password + "\n")
    if password:
        subprocess.run(["certutil", "-N", "-d", db, "-f", str(pwfile)], check=True,
                       capture_output=True)
    else:
        subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True,
                       capture_output=True)
    for nick, (ca, trust) in cas.items():
        subprocess.run(["certutil", "-A", "-d", db, "-n", nick, "-t", trust, "-a",
                        "-f", str(pwfile)],
                       input=ca.cert_pem, check=True, capture_output=True)
    for nick, ident in identities.items():
        p12 = directory.parent / f".{nick.replace(' ', '_')}.p12"
        p12.write_bytes(ident.p12(nick, b"p12pass", issuer))
        subprocess.run(["pk12util", "-i", str(p12), "-d", db, "-W", "p12pass",
                        "-k", str(pwfile)], check=True, capture_output=True)
        p12.unlink()
    pwfile.unlink()
    return directory
