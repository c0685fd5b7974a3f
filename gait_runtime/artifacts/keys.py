"""Key files, key environment variables and key modes (``spec/signing.md`` §6–7).

Owns: decoding the Go key formats (base64 of the 64-byte private key, base64 of
the 32-byte public key), reading them from a path or a named environment
variable, the ``dev``/``prod`` key modes, and writing a new key pair
(``gait keys init|rotate``). File access happens only in the explicitly named
``load_*``/``write_*`` functions.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import KeyMaterialError
from .fsutil import write_atomic
from .signing import SigningKey, VerifyKey

__all__ = [
    "DEV_KEY_WARNING",
    "KeySource",
    "ResolvedSigningKey",
    "decode_private",
    "decode_public",
    "init_key_pair",
    "load_private",
    "load_public",
    "resolve_signing_key",
    "resolve_verify_key",
]

DEV_KEY_WARNING: Final = (
    "dev mode: ephemeral keypair generated; signatures will not verify across machines"
)
_FILE_STRIP: Final = " \t\r\n"


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where a key comes from: a file path or the *name* of an environment variable."""

    path: str = ""
    env: str = ""

    @property
    def given(self) -> bool:
        """True when either a path or an env name was supplied."""
        return bool(self.path.strip() or self.env.strip())

    def describe(self) -> str:
        """``path:<p>`` or ``env:<VAR>``."""
        return f"path:{self.path}" if self.path.strip() else f"env:{self.env}"


@dataclass(frozen=True, slots=True)
class ResolvedSigningKey:
    """A signing key plus the warnings its resolution produced."""

    key: SigningKey
    mode: str
    warnings: tuple[str, ...] = ()


def _b64(text: str, what: str) -> bytes:
    cleaned = text.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyMaterialError(f"decode {what} key: invalid base64") from exc


def decode_private(text: str) -> SigningKey:
    """Decode the Go private key text (base64 of seed ‖ public key).

    Raises:
        KeyMaterialError: bad base64, wrong length, or a public half that does not
            belong to the seed (Go would silently sign unverifiable data).
    """
    raw = _b64(text.strip(_FILE_STRIP), "private")
    if len(raw) != 64:
        raise KeyMaterialError(f"invalid private key length: {len(raw)}")
    key = SigningKey(raw[:32])
    if key.public.raw != raw[32:]:
        raise KeyMaterialError("private key file is inconsistent: public half does not match seed")
    return key


def decode_public(text: str) -> VerifyKey:
    """Decode the Go public key text (base64 of 32 raw bytes)."""
    raw = _b64(text.strip(_FILE_STRIP), "public")
    if len(raw) != 32:
        raise KeyMaterialError(f"invalid public key length: {len(raw)}")
    return VerifyKey(raw)


def _read_source(source: KeySource, what: str, environ: Mapping[str, str]) -> str:
    path, env = source.path.strip(), source.env.strip()
    if path and env:
        raise KeyMaterialError(f"{what} key source: set either path or env")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyMaterialError(f"read {what} key {path}: {exc.strerror or exc}") from exc
    value = environ.get(env, "").strip()
    if not value:
        raise KeyMaterialError(f"{what} key env not set: {env}")
    return value


def load_private(source: KeySource, environ: Mapping[str, str] | None = None) -> SigningKey:
    """Read and decode a private key from a path or env var."""
    return decode_private(
        _read_source(source, "private", os.environ if environ is None else environ)
    )


def load_public(source: KeySource, environ: Mapping[str, str] | None = None) -> VerifyKey:
    """Read and decode a public key from a path or env var."""
    return decode_public(_read_source(source, "public", os.environ if environ is None else environ))


def resolve_signing_key(
    mode: str,
    private: KeySource,
    public: KeySource | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedSigningKey:
    """Apply the key-mode rules of ``spec/signing.md`` §7.

    ``dev`` makes an ephemeral key and refuses explicit sources; ``prod`` (also the
    empty mode) requires a private key and checks an optional public key against it.
    """
    normalized = mode.strip().lower() or "prod"
    public = public or KeySource()
    if normalized == "dev":
        if private.given or public.given:
            raise KeyMaterialError("dev mode does not accept explicit key sources")
        return ResolvedSigningKey(SigningKey.generate(), "dev", (DEV_KEY_WARNING,))
    if normalized != "prod":
        raise KeyMaterialError(f'unsupported key mode: "{mode.strip()}"')
    if not private.given:
        raise KeyMaterialError("prod mode requires a private key source")
    key = load_private(private, environ)
    if public.given and load_public(public, environ).raw != key.public.raw:
        raise KeyMaterialError("public key does not match private key")
    return ResolvedSigningKey(key, "prod")


def resolve_verify_key(
    public: KeySource,
    private: KeySource,
    environ: Mapping[str, str] | None = None,
) -> VerifyKey | None:
    """Pick a verify key from a public source, else derive it from a private one."""
    if public.given:
        return load_public(public, environ)
    if private.given:
        return load_private(private, environ).public
    return None


def init_key_pair(
    out_dir: Path, prefix: str, *, force: bool = False, key: SigningKey | None = None
) -> tuple[SigningKey, Path, Path]:
    """Write ``<prefix>_private.key`` and ``<prefix>_public.key`` (mode 0600).

    Raises:
        KeyMaterialError: a file exists and ``force`` is false, or the prefix is bad.
    """
    if not prefix.strip() or "/" in prefix or "\\" in prefix or ".." in prefix:
        raise KeyMaterialError(f"invalid key prefix: {prefix!r}")
    key = key or SigningKey.generate()
    private_path = out_dir / f"{prefix}_private.key"
    public_path = out_dir / f"{prefix}_public.key"
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise KeyMaterialError(f"key file already exists: {path} (use --force)")
    write_atomic(private_path, base64.b64encode(key.go_private_bytes()) + b"\n")
    write_atomic(public_path, base64.b64encode(key.public.raw) + b"\n")
    return key, private_path, public_path
