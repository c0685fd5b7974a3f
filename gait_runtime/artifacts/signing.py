"""Ed25519 signatures over JCS digests, with the exact envelope of ``spec/signing.md``.

Owns: the signature envelope (``alg``, ``key_id``, ``sig``, ``signed_digest``),
signing and verifying a payload object, and :class:`SigningKey` /
:class:`VerifyKey` value types. Keys are always passed in; this module never
reads files or the environment (that is :mod:`gait_runtime.artifacts.keys`).

The message signed is the 32 raw bytes of ``sha256(JCS(payload))``, not the hex
text and not the JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import KeyMaterialError
from .jcs import canonicalize

__all__ = [
    "ALG",
    "SigningKey",
    "VerifyKey",
    "key_id_of",
    "sign",
    "signature_errors",
    "verify",
]

ALG: Final = "ed25519"


def key_id_of(public_raw: bytes) -> str:
    """``hex(sha256(raw 32-byte public key))``."""
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A public key able to check signatures."""

    raw: bytes
    key_id: str = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise KeyMaterialError(f"invalid public key length: {len(self.raw)}")
        object.__setattr__(self, "key_id", key_id_of(self.raw))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.raw))

    def check(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key (the 32-byte seed) and its public half."""

    seed: bytes = field(repr=False)
    public: VerifyKey = field(init=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise KeyMaterialError(f"invalid private key seed length: {len(self.seed)}")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "public", VerifyKey(raw))

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key (dev mode)."""
        return cls(Ed25519PrivateKey.generate().private_bytes_raw())

    @property
    def key_id(self) -> str:
        """Key id of the public half."""
        return self.public.key_id

    def go_private_bytes(self) -> bytes:
        """The 64-byte Go private key form: seed ‖ public key."""
        return self.seed + self.public.raw

    def sign_digest(self, digest_bytes: bytes) -> bytes:
        """Sign 32 raw digest bytes."""
        return self._key.sign(digest_bytes)


def sign(payload: object, key: SigningKey) -> dict[str, str]:
    """Return the signature envelope for ``payload`` (which must not hold it)."""
    digest_bytes = hashlib.sha256(canonicalize(payload)).digest()
    return {
        "alg": ALG,
        "key_id": key.key_id,
        "sig": base64.b64encode(key.sign_digest(digest_bytes)).decode("ascii"),
        "signed_digest": digest_bytes.hex(),
    }


def signature_errors(payload: object, envelope: object, key: VerifyKey) -> list[str]:
    """Check one envelope against ``payload``; return the failures (empty = valid).

    Order and texts follow ``spec/signing.md`` §5.
    """
    if not isinstance(envelope, dict):
        return ["signature envelope is not an object"]
    if envelope.get("alg") != ALG:
        return ["unsupported alg"]
    key_id = envelope.get("key_id") or ""
    if key_id and (not isinstance(key_id, str) or key_id.lower() != key.key_id):
        return ["key id mismatch"]
    signed_digest = envelope.get("signed_digest")
    if not isinstance(signed_digest, str) or not signed_digest:
        return ["missing signed_digest"]
    actual = hashlib.sha256(canonicalize(payload)).hexdigest()
    if signed_digest != actual:
        return ["signed_digest mismatch"]
    sig_text = envelope.get("sig")
    try:
        sig = base64.b64decode(sig_text if isinstance(sig_text, str) else "", validate=True)
    except (binascii.Error, ValueError):
        return ["invalid signature encoding"]
    if len(sig) != 64:
        return ["invalid signature length"]
    if not key.check(sig, bytes.fromhex(actual)):
        return ["signature verification failed"]
    return []


def verify(payload: object, envelope: object, key: VerifyKey) -> bool:
    """True when ``envelope`` is a valid signature of ``payload`` by ``key``."""
    return not signature_errors(payload, envelope, key)
