"""The key of an MD5 login, computed the way Asterisk checks it.

Asterisk (``main/manager.c``) hashes the bytes of the challenge it sent followed by the bytes of
the user's secret, and compares the lowercase hex digest with the ``Key`` of the Login. So both
are hashed as bytes: the challenge exactly as it was received, the secret in the session's
encoding. Text decoded with ``surrogateescape`` (what the parser gives for bytes that are not
valid in the encoding, and what ``os.environ`` gives for undecodable bytes) encodes back to the
very same bytes, so neither a challenge nor a secret has to be valid UTF-8.
"""

from __future__ import annotations

import hashlib

from ._errors import LocalProtocolError

__all__ = ["md5_key"]


def _secret_bytes(text: object, what: str, encoding: str) -> bytes:
    if not isinstance(text, str):
        raise LocalProtocolError(f"the {what} must be a str, not {type(text).__name__}")
    try:
        return text.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:
        pass
    # Raised outside the handler: the codec's error holds the text itself.
    raise LocalProtocolError(
        f"the {what} cannot be encoded in {encoding!r}: it holds a lone surrogate that stands "
        "for no byte"
    )


def md5_key(challenge: str, secret: str, encoding: str = "utf-8") -> str:
    """The ``Key`` of an MD5 Login: the lowercase hex MD5 of the challenge's bytes, then the
    secret's, both encoded in ``encoding`` with ``surrogateescape``.

    ``md5_key("840415273", "amp111") == "67fe01b2ce7cedb238c3335702f5c70e"``. Raises
    ``LocalProtocolError`` (showing neither value) if one is not text or cannot be encoded, as
    ``"\\ud800"`` cannot.
    """
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(_secret_bytes(challenge, "challenge", encoding))
    digest.update(_secret_bytes(secret, "secret", encoding))
    return digest.hexdigest()
