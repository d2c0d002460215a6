"""The membership rules on their own: who manages members, who may leave, who may replace a token, and which
changes would leave an account without an owner."""

from __future__ import annotations

import pytest

from adsvc.members.roles import (
    ROLES,
    Connect,
    connect_outcome,
    leaves_no_owner,
    may_manage_members,
    may_remove,
)


@pytest.mark.parametrize("role", [*ROLES, None])
def test_only_owners_and_admins_manage_members(role):
    assert may_manage_members(role=role, is_admin=False) is (role == "owner")
    assert may_manage_members(role=role, is_admin=True) is True


@pytest.mark.parametrize("role", ROLES)
def test_every_member_may_remove_themself_but_only_owners_remove_others(role):
    assert may_remove(role=role, is_admin=False, caller_id=7, target_id=7) is True
    assert may_remove(role=role, is_admin=False, caller_id=7, target_id=8) is (role == "owner")


def test_a_non_member_may_not_leave_or_remove_anyone_unless_admin():
    assert may_remove(role=None, is_admin=False, caller_id=7, target_id=7) is False
    assert may_remove(role=None, is_admin=False, caller_id=7, target_id=8) is False
    assert may_remove(role=None, is_admin=True, caller_id=7, target_id=8) is True


@pytest.mark.parametrize("new", ["manager", "analyst", "viewer", None])
def test_the_last_owner_cannot_be_demoted_or_removed(new):
    assert leaves_no_owner(owners=1, current="owner", new=new) is True
    assert leaves_no_owner(owners=2, current="owner", new=new) is False


@pytest.mark.parametrize("current", ["manager", "analyst", "viewer"])
def test_changing_or_removing_a_non_owner_never_leaves_no_owner(current):
    for new in (*ROLES, None):
        assert leaves_no_owner(owners=1, current=current, new=new) is False


def test_an_owner_staying_owner_is_fine():
    assert leaves_no_owner(owners=1, current="owner", new="owner") is False


@pytest.mark.parametrize(
    ("exists", "role", "outcome"),
    [
        (False, None, Connect.CREATE),
        (True, "owner", Connect.ROTATE),
        (True, "manager", Connect.ROTATE),
        (True, "analyst", Connect.REFUSE),
        (True, "viewer", Connect.REFUSE),
        (True, None, Connect.REFUSE),
    ],
)
def test_connect_creates_new_accounts_and_replaces_tokens_for_owners_and_managers_only(exists, role, outcome):
    assert connect_outcome(exists=exists, role=role) is outcome
