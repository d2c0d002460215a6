"""Request and response bodies of the members API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from adsvc.members.roles import Role


class MemberOut(BaseModel):
    user_id: int
    email: str
    role: Role
    added_at: datetime


class MemberListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_id: int = Field(default=0, ge=0, le=2**62, description="Keyset cursor: the last user_id of the previous page")
    limit: int = Field(default=100, ge=1, le=500)


class MemberListOut(BaseModel):
    data: list[MemberOut]
    next_after_id: int | None = Field(description="Pass as after_id for the next page; null on the last page")


class AddMemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    email: str = Field(
        min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", description="An active adsvc user's email, any case"
    )
    role: Role


class ChangeRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: Role


class MemberRemovedOut(BaseModel):
    account_id: str
    user_id: int
    removed: bool = Field(description="false when that user was not a member (a retried removal)")
