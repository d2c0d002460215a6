"""The JWT matrix: every malformed, forged, stale or foreign token is a 401 JSON error; rotation keeps old tokens."""

from __future__ import annotations

import base64
import time
import warnings

import jwt
import pytest
from factories import TEST_SECRET, bearer, create_user, login, make_settings

from adsvc.app import create_app
from adsvc.auth.tokens import InvalidToken, decode_access_token, issue_access_token


def _claims(user_id: int, **overrides):
    now = int(time.time())
    claims = {
        "iss": "adsvc", "aud": "adsvc-api", "sub": str(user_id), "iat": now, "nbf": now, "exp": now + 600,
        "jti": "a" * 32, "email": "x@example.com", "adm": False,
    }  # fmt: skip
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _sign(claims, key=TEST_SECRET, kid="primary", alg="HS256"):
    with warnings.catch_warnings():
        # HS512 with our 56-byte test key warns; the right key under the wrong algorithm is the point here
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _alg_none(user_id: int) -> str:
    header = _b64(b'{"alg":"none","typ":"JWT","kid":"primary"}')
    payload = _b64(jwt.api_jws.json.dumps(_claims(user_id)).encode())
    return f"{header}.{payload}."


def _tampered(user_id: int) -> str:
    token = _sign(_claims(user_id))
    header, _payload, signature = token.split(".")
    forged = _b64(jwt.api_jws.json.dumps(_claims(user_id, adm=True)).encode())
    return f"{header}.{forged}.{signature}"


BAD_TOKENS = {
    "alg_none": _alg_none,
    "wrong_key": lambda uid: _sign(_claims(uid), key="another-secret-key-" + "y" * 40),
    "unknown_kid": lambda uid: _sign(_claims(uid), kid="retired"),
    "missing_kid": lambda uid: _sign(_claims(uid), kid=None),
    "expired": lambda uid: _sign(
        _claims(uid, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "nbf_in_future": lambda uid: _sign(_claims(uid, nbf=int(time.time()) + 3600)),
    "iat_in_future": lambda uid: _sign(_claims(uid, iat=int(time.time()) + 3600)),
    "wrong_iss": lambda uid: _sign(_claims(uid, iss="someone-else")),
    "wrong_aud": lambda uid: _sign(_claims(uid, aud="another-api")),
    "aud_list": lambda uid: _sign(_claims(uid, aud=["adsvc-api", "other"])),
    "missing_jti": lambda uid: _sign(_claims(uid, jti=None)),
    "missing_exp": lambda uid: _sign(_claims(uid, exp=None)),
    "missing_sub": lambda uid: _sign(_claims(uid, sub=None)),
    "missing_iat": lambda uid: _sign(_claims(uid, iat=None)),
    "missing_nbf": lambda uid: _sign(_claims(uid, nbf=None)),
    "missing_iss": lambda uid: _sign(_claims(uid, iss=None)),
    "missing_aud": lambda uid: _sign(_claims(uid, aud=None)),
    "non_numeric_sub": lambda uid: _sign(_claims(uid, sub="admin")),
    "hs512": lambda uid: _sign(_claims(uid), alg="HS512"),
    "tampered_payload": _tampered,
    "garbage": lambda uid: "not.a.jwt",
    "empty_segments": lambda uid: "..",
    "random_text": lambda uid: "Zm9vYmFy",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_bad_token_is_401(client, db, settings, kind):
    user = await create_user(db, settings)
    token = BAD_TOKENS[kind](user.id)
    response = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status == 401, kind
    body = await response.json()
    assert body["error"]["code"] == "unauthorized"


async def test_a_well_formed_token_from_the_matrix_builder_is_accepted(client, db, settings):
    """Guards the matrix: the same builder with nothing wrong must pass, so each 401 above is for its own reason."""
    user = await create_user(db, settings)
    response = await client.get("/api/v1/auth/me", headers=bearer(_sign(_claims(user.id))))
    assert response.status == 200


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "bearer", "Token xyz"])
async def test_malformed_authorization_header_is_401(client, header):
    response = await client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert response.status == 401


async def test_rotation_accepts_tokens_signed_with_a_previous_key(aiohttp_client, db, stack, settings):
    user = await create_user(db, settings)
    old_client = await aiohttp_client(create_app(settings))
    old_token = await login(old_client, user.email)
    rotated = make_settings(
        stack, secret_key="rotated-signing-key-" + "z" * 40, jwt_key_id="k2", jwt_previous_keys={"primary": TEST_SECRET}
    )
    new_client = await aiohttp_client(create_app(rotated))
    assert (await new_client.get("/api/v1/auth/me", headers=bearer(old_token))).status == 200
    new_token = await login(new_client, user.email)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert (await new_client.get("/api/v1/auth/me", headers=bearer(new_token))).status == 200
    # once the previous key is dropped, its tokens stop working
    retired = make_settings(stack, secret_key="rotated-signing-key-" + "z" * 40, jwt_key_id="k2")
    retired_client = await aiohttp_client(create_app(retired))
    assert (await retired_client.get("/api/v1/auth/me", headers=bearer(old_token))).status == 401


def test_issue_and_decode_round_trip_without_io(stack):
    settings = make_settings(stack)
    issued = issue_access_token(settings, user_id=7, email="a@example.com", is_admin=True, now=time.time())
    principal = decode_access_token(issued.token, settings)
    assert (principal.user_id, principal.email, principal.is_admin, principal.jti) == (7, "a@example.com", True,
                                                                                        issued.jti)  # fmt: skip
    with pytest.raises(InvalidToken):
        decode_access_token(issued.token + "x", settings)
