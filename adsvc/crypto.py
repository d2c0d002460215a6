"""Encryption of the Meta access tokens adsvc stores: Fernet (AES-128-CBC + HMAC), with previous keys for rotation."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenUnreadable(Exception):
    """A stored token could not be decrypted with any configured key."""


class TokenBox:
    def __init__(self, key: str, previous_keys: Sequence[str] = ()) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in (key, *previous_keys)])

    def seal(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def open(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise TokenUnreadable("stored token cannot be decrypted with TOKEN_ENCRYPTION_KEY") from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the current key (after a key rotation)."""
        return self._fernet.rotate(ciphertext)
