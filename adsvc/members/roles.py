"""The membership rules, without I/O: who may manage members, who may replace a token, and which changes would
leave an account without an owner."""

from __future__ import annotations

import enum
from typing import Final, Literal

Role = Literal["owner", "manager", "analyst", "viewer"]
ROLES: Final[tuple[Role, ...]] = ("owner", "manager", "analyst", "viewer")
# who may replace an account's stored token by connecting it again
TOKEN_ROLES: Final = frozenset({"owner", "manager"})


def may_manage_members(*, role: str | None, is_admin: bool) -> bool:
    """Owners manage their account's members; administrators manage every account's."""
    return is_admin or role == "owner"


def may_remove(*, role: str | None, is_admin: bool, caller_id: int, target_id: int) -> bool:
    """Managers of members may remove anyone; any member may remove themself (leave)."""
    return may_manage_members(role=role, is_admin=is_admin) or (role is not None and caller_id == target_id)


def leaves_no_owner(*, owners: int, current: str, new: str | None) -> bool:
    """Would giving this member the role `new` (None: removing them) leave the account without an owner?"""
    return current == "owner" and new != "owner" and owners <= 1


class Connect(enum.Enum):
    CREATE = "create"
    ROTATE = "rotate"
    REFUSE = "refuse"


def connect_outcome(*, exists: bool, role: str | None) -> Connect:
    """Connecting an account with a token Meta accepted: a new account is created with the caller as its owner; an
    account already connected gets the new token only from one of its owners or managers, and nothing from anyone
    else (they must ask an owner to add them)."""
    if not exists:
        return Connect.CREATE
    return Connect.ROTATE if role in TOKEN_ROLES else Connect.REFUSE
