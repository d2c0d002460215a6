"""Request and response bodies of the auth API; they drive validation and the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from adsvc.auth.policy import POLICY_MARKER


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class LoginIn(_Input):
    email: str = Field(min_length=3, max_length=320, description="The account's email, any case")
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the token expires")


class MeOut(BaseModel):
    id: int
    email: str
    is_admin: bool


class ChangePasswordIn(_Input):
    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024, json_schema_extra={POLICY_MARKER: True})


class OkOut(BaseModel):
    ok: Literal[True] = True


# email-validator refuses addresses under special-use names (RFC 6761), which cannot receive mail
_SPECIAL_USE = r"(^|\.)(arpa|invalid|local|localhost|onion|test)\.?$"


class CreateUserIn(_Input):
    email: EmailStr = Field(max_length=320, json_schema_extra={"not": {"pattern": _SPECIAL_USE}})
    password: str = Field(min_length=1, max_length=1024, json_schema_extra={POLICY_MARKER: True})
    is_admin: bool = False


class UserOut(BaseModel):
    id: int
    email: str
    is_active: bool
    is_admin: bool
    created_at: datetime
    disabled_at: datetime | None


class UserListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_id: int = Field(default=0, ge=0, le=2**62, description="Keyset cursor: the last id of the previous page")
    limit: int = Field(default=50, ge=1, le=200)


class UserListOut(BaseModel):
    data: list[UserOut]
    next_after_id: int | None = Field(description="Pass as after_id for the next page; null on the last page")


class CreateApiKeyIn(_Input):
    user_id: int = Field(ge=1, le=2**62, description="The user whose accounts the key may export")
    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key itself; shown only in this response")


class ApiKeyListOut(BaseModel):
    data: list[ApiKeyOut]
