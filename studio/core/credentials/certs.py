"""The signing identity of this installation: a local certificate authority
and a signing certificate made on first use, or a chain and key the user
imported (for example from their organisation's CA).

C2PA refuses self-signed signing certificates, so the local identity is two
certificates: a CA (``basicConstraints CA``, ``keyCertSign``) and an
end-entity certificate it issues with what C2PA requires of a signer
(``digitalSignature`` as a critical key usage, the ``emailProtection`` and
``documentSigning`` extended key usages, subject and authority key ids).
Keys are ECDSA P-256 (C2PA's ES256).

Everything lives in ``<config>/credentials`` (mode 0700); each key file is
mode 0600. No key ever goes into settings, recipes, logs or error messages:
errors name the file, never its content."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from studio.core.atomic import atomic_write_bytes
from studio.core.jobs import StudioError

FOLDER_NAME = "credentials"
CHAIN_FILE = "chain.pem"  # signing certificate first, then its issuers
KEY_FILE = "signing-key.pem"
CA_CERT_FILE = "local-ca.pem"
CA_KEY_FILE = "local-ca-key.pem"
INFO_FILE = "identity.json"  # {"source": "local" | "imported", "alg": ...}
DOCUMENT_SIGNING_OID = "1.3.6.1.5.5.7.3.36"
_lock = threading.Lock()


@dataclass(frozen=True)
class Identity:
    """A certificate chain (PEM, signer first) and the path of its key."""

    chain_pem: bytes
    key_path: Path
    alg: str  # "es256", "es384", "ps256", "ed25519" ...
    source: str  # "local" or "imported"
    subject: str
    trust_anchor_pem: bytes  # the CA this installation trusts when reading (its own)

    def private_key_pem(self) -> bytes:
        try:
            return self.key_path.read_bytes()
        except OSError as exc:
            raise StudioError(f"cannot read the signing key {self.key_path.name}: {exc.strerror or exc}") from None


def credentials_folder(config: Path) -> Path:
    return Path(config) / FOLDER_NAME


def _private_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def _write_private(path: Path, data: bytes) -> None:
    """Written atomically and readable only by the user (0600 from the start)."""
    old = os.umask(0o077)
    try:
        atomic_write_bytes(path, data)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def load_identity(config: Path, create: bool = True) -> Identity:
    """This installation's signing identity, making the local one on first use."""
    folder = credentials_folder(config)
    with _lock:
        if not (folder / CHAIN_FILE).exists() or not (folder / KEY_FILE).exists():
            if not create:
                raise StudioError("no signing certificate yet")
            make_local_identity(config)
        info = _read_info(folder)
        chain = (folder / CHAIN_FILE).read_bytes()
        anchor = (folder / CA_CERT_FILE).read_bytes() if (folder / CA_CERT_FILE).exists() else _last_cert(chain)
        return Identity(chain, folder / KEY_FILE, info.get("alg", "es256"), info.get("source", "local"),
                        _subject(chain), anchor)


def _read_info(folder: Path) -> dict:
    try:
        return json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def make_local_identity(config: Path, common_name: str = "") -> None:
    """A new local CA and signing certificate (replacing any before)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    folder = _private_folder(credentials_folder(config))
    user = common_name or _user_name()
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Studio local"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"Studio local CA ({user})")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650 * 2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Studio local"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Studio on this computer ({user})")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                              ObjectIdentifier(DOCUMENT_SIGNING_OID)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    bare = serialization.NoEncryption()
    _write_private(folder / CA_KEY_FILE, ca_key.private_bytes(pem, pkcs8, bare))
    _write_private(folder / KEY_FILE, key.private_bytes(pem, pkcs8, bare))
    _write_private(folder / CA_CERT_FILE, ca_cert.public_bytes(pem))
    _write_private(folder / CHAIN_FILE, cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(folder / INFO_FILE, json.dumps({"source": "local", "alg": "es256"}).encode())


def import_identity(config: Path, chain_file: Path, key_file: Path) -> Identity:
    """Use the user's own chain (PEM, signing certificate first) and key.

    The key must match the first certificate, which must not be self-signed
    (C2PA refuses those). Copies both into the credentials folder (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        chain = Path(chain_file).read_bytes()
        key_pem = Path(key_file).read_bytes()
    except OSError as exc:
        raise StudioError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise StudioError(f"{Path(chain_file).name} holds no PEM certificate chain") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise StudioError(f"{Path(key_file).name} is not an unencrypted PEM private key") from None
    signer = certs[0]
    pub = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*pub) != signer.public_key().public_bytes(*pub):
        raise StudioError("the private key does not belong to the first certificate of the chain")
    if signer.issuer == signer.subject:
        raise StudioError("the signing certificate is self-signed; C2PA needs one issued by a CA")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name)
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "ps256"
    else:
        alg = None
    if alg is None:
        raise StudioError("unsupported key type: use ECDSA P-256/P-384/P-521, Ed25519 or RSA")
    folder = _private_folder(credentials_folder(config))
    pem = serialization.Encoding.PEM
    _write_private(folder / KEY_FILE, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    _write_private(folder / CHAIN_FILE, b"".join(c.public_bytes(pem) for c in certs))
    if (folder / CA_CERT_FILE).exists():
        (folder / CA_CERT_FILE).unlink()
    for stale in (CA_KEY_FILE,):
        if (folder / stale).exists():
            (folder / stale).unlink()
    _write_private(folder / INFO_FILE, json.dumps({"source": "imported", "alg": alg}).encode())
    return load_identity(config, create=False)


def reset_identity(config: Path) -> None:
    """Forget the current identity (imported or local); the next signing makes a new local one."""
    folder = credentials_folder(config)
    for name in (CHAIN_FILE, KEY_FILE, CA_CERT_FILE, CA_KEY_FILE, INFO_FILE):
        if (folder / name).exists():
            (folder / name).unlink()


def describe(config: Path) -> str:
    """One line for Settings: who signs, and where the credentials came from."""
    folder = credentials_folder(config)
    if not (folder / CHAIN_FILE).exists():
        return "a local certificate is made on first use"
    info = _read_info(folder)
    chain = (folder / CHAIN_FILE).read_bytes()
    origin = "imported" if info.get("source") == "imported" else "local CA of this installation"
    return f"{_subject(chain)} ({origin}, {info.get('alg', 'es256').upper()})"


def _subject(chain: bytes) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        return "?"
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _last_cert(chain: bytes) -> bytes:
    marker = b"-----BEGIN CERTIFICATE-----"
    start = chain.rfind(marker)
    return chain[start:] if start >= 0 else b""


def _user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "user"
