"""The signing-key checks of ``gait doctor``.

Owns: ``key_source_ambiguity`` (a path and an env var for one key),
``key_permissions`` (key files writable by others) and ``key_config`` (the
key mode and, in ``prod``, that the keys load and match).
"""

from __future__ import annotations

import os
import stat

from ..artifacts.keys import load_private, load_public
from ..errors import GaitError
from ._check import UNIVERSAL, Check, sh_quote
from ._options import DoctorOptions

__all__ = ["check_ambiguity", "check_key_config", "check_permissions"]


def check_ambiguity(opts: DoctorOptions) -> Check:
    both = [
        what
        for what, src in (("private", opts.private_key), ("public", opts.public_key))
        if src.path.strip() and src.env.strip()
    ]
    if both:
        flags = " and ".join(f"--{w}-key/--{w}-key-env" for w in both)
        return Check(
            "key_source_ambiguity",
            UNIVERSAL,
            "fail",
            f"both a path and an env var were given ({flags})",
            f"pass only one of {flags}",
        )
    return Check("key_source_ambiguity", UNIVERSAL, "pass", "key sources are unambiguous")


def check_permissions(opts: DoctorOptions) -> Check:
    for what, src in (("private", opts.private_key), ("public", opts.public_key)):
        path = src.path.strip()
        if not path:
            continue
        try:
            info = os.stat(path)
        except OSError as exc:
            return Check(
                "key_permissions",
                UNIVERSAL,
                "warn",
                f"{what} key {path} is not accessible: {exc.strerror or exc}",
                f"ls -l {sh_quote(path)}",
            )
        if stat.S_ISDIR(info.st_mode):
            return Check(
                "key_permissions",
                UNIVERSAL,
                "warn",
                f"{what} key {path} is a directory",
                f"ls -l {sh_quote(path)}",
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return Check(
                "key_permissions",
                UNIVERSAL,
                "warn",
                f"{what} key {path} is writable by group or others",
                f"chmod 600 {sh_quote(path)}",
            )
    return Check("key_permissions", UNIVERSAL, "pass", "key file permissions are safe")


def check_key_config(opts: DoctorOptions) -> Check:
    mode = opts.key_mode.strip().lower()
    given = opts.private_key.given or opts.public_key.given
    if mode == "dev":
        if given:
            return Check(
                "key_config",
                UNIVERSAL,
                "warn",
                "dev key mode ignores the key sources given",
                "gait doctor --key-mode prod --private-key <path>",
            )
        return Check("key_config", UNIVERSAL, "pass", "dev key mode (ephemeral signing keys)")
    if mode != "prod":
        return Check(
            "key_config",
            UNIVERSAL,
            "fail",
            f"unsupported key mode: {opts.key_mode!r}",
            "gait doctor --key-mode prod --private-key <path>",
        )
    fix = (
        "gait keys init --out-dir ./gait-keys && gait doctor --key-mode prod "
        "--private-key ./gait-keys/gait_private.key"
    )
    if not opts.private_key.given:
        return Check("key_config", UNIVERSAL, "fail", "prod key mode needs a signing key", fix)
    try:
        key = load_private(opts.private_key, opts.environ)
        if (
            opts.public_key.given
            and load_public(opts.public_key, opts.environ).raw != key.public.raw
        ):
            return Check(
                "key_config", UNIVERSAL, "fail", "public key does not match private key", fix
            )
    except GaitError as exc:
        return Check(
            "key_config", UNIVERSAL, "fail", f"signing key does not load: {exc.message}", fix
        )
    return Check("key_config", UNIVERSAL, "pass", "prod signing key loads")
