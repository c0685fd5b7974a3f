"""``gait keys init|rotate|verify``: thin handlers over :mod:`gait_runtime.artifacts.keys`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from ..artifacts.keys import KeySource, init_key_pair, load_private, load_public
from ._frame import Handler, Parser, Result, add_common

__all__ = ["build_init", "build_rotate", "build_verify"]


def _pair_result(prefix: str, key_id: str, private: Path, public: Path) -> Result:
    payload = {
        "ok": True,
        "prefix": prefix,
        "key_id": key_id,
        "private_key_path": str(private),
        "public_key_path": str(public),
    }
    text = [f"keys: prefix={prefix} key_id={key_id}", f"private: {private}", f"public: {public}"]
    return Result(payload, text)


def build_init(parser: Parser) -> Handler:
    """``gait keys init [--out-dir gait-out/keys] [--prefix gait] [--force]``."""
    add_common(parser, "writes a new ed25519 key pair in the Go key-file format (mode 0600)")
    parser.add_argument("--out-dir", default="gait-out/keys", help="directory for the key files")
    parser.add_argument("--prefix", default="gait", help="file name prefix")
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")

    def handle(ns: argparse.Namespace) -> Result:
        key, private, public = init_key_pair(Path(ns.out_dir), ns.prefix, force=ns.force)
        return _pair_result(ns.prefix, key.key_id, private, public)

    return handle


def build_rotate(parser: Parser) -> Handler:
    """``gait keys rotate``: a new pair with prefix ``<prefix>_<UTC yyyymmddThhmmssZ>``."""
    add_common(parser, "writes a new key pair with a timestamped prefix; never overwrites")
    parser.add_argument("--out-dir", default="gait-out/keys", help="directory for the key files")
    parser.add_argument("--prefix", default="gait", help="base prefix")

    def handle(ns: argparse.Namespace) -> Result:
        prefix = f"{ns.prefix}_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        key, private, public = init_key_pair(Path(ns.out_dir), prefix, force=False)
        return _pair_result(prefix, key.key_id, private, public)

    return handle


def build_verify(parser: Parser) -> Handler:
    """``gait keys verify --private-key[-env] [--public-key[-env]]``."""
    add_common(parser, "loads a key pair in prod mode and checks that its halves match")
    parser.add_argument("--private-key", default="", help="path of the private key file")
    parser.add_argument("--private-key-env", default="", help="name of an env var holding it")
    parser.add_argument("--public-key", default="", help="path of the public key file")
    parser.add_argument("--public-key-env", default="", help="name of an env var holding it")

    def handle(ns: argparse.Namespace) -> Result:
        from ..errors import KeyMaterialError

        private = KeySource(ns.private_key, ns.private_key_env)
        public = KeySource(ns.public_key, ns.public_key_env)
        if not private.given:
            raise KeyMaterialError("prod mode requires a private key source")
        key = load_private(private)
        public_source = "derived"
        if public.given:
            if load_public(public).raw != key.public.raw:
                raise KeyMaterialError("public key does not match private key")
            public_source = public.describe()
        payload = {
            "ok": True,
            "key_id": key.key_id,
            "private_key_source": private.describe(),
            "public_key_source": public_source,
        }
        return Result(payload, [f"keys verify ok: key_id={key.key_id}"])

    return handle
