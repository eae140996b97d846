"""Shorthands for the operations the translation-layer tests expect, and the products' capabilities."""

from atlassian_clients.base import Capabilities
from scim_bridge.rules.model import Plan
from scim_bridge.rules.operations import (
    AddMember,
    CreateGroup,
    CreateUser,
    DeleteGroup,
    DeleteUser,
    GrantLicence,
    LinkUser,
    RemoveMember,
    RenameUser,
    RevokeLicence,
    SetActive,
    UpdateUser,
)

# What the shipped clients report (atlassian_clients/jira.py, confluence.py, bitbucket.py).
JIRA = Capabilities(can_deactivate=True, can_rename_user=True, can_find_by_email=True)
CONFLUENCE = Capabilities(can_deactivate=True, can_rename_user=False, can_find_by_email=False)
CONFLUENCE_8_1 = Capabilities(can_create_user=False, can_deactivate=False, can_find_by_email=False)
BITBUCKET = Capabilities(can_deactivate=False, can_rename_user=True, can_find_by_email=True)


def create_user(name, display_name, email, keys=()):
    return CreateUser(name, display_name=display_name, email=email, application_keys=keys)


def link(name):
    return LinkUser(name)


def update(name, *, display_name=None, email=None):
    return UpdateUser(name, display_name=display_name, email=email)


def rename(old, new):
    return RenameUser(old, new_name=new)


def activate(name, active=True):
    return SetActive(name, active=active)


def grant(name):
    return GrantLicence(name)


def revoke(name):
    return RevokeLicence(name)


def delete_user(name):
    return DeleteUser(name)


def create_group(name):
    return CreateGroup(name)


def delete_group(name):
    return DeleteGroup(name)


def add(user, group):
    return AddMember(user, group=group)


def remove(user, group):
    return RemoveMember(user, group=group)


def shape(plan: Plan) -> tuple:
    """The parts of a plan every case asserts exactly: operations in order, skipped, notes."""
    return plan.operations, plan.skipped, plan.notes
