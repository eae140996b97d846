"""Shorthands for the operations the translation-layer tests expect, and the products' capabilities."""

from atlassian_clients.base import Capabilities
from scim_bridge.rules.model import Operation, Plan

# What the shipped clients report (atlassian_clients/jira.py, confluence.py, bitbucket.py).
JIRA = Capabilities(can_deactivate=True, can_rename_user=True, can_find_by_email=True)
CONFLUENCE = Capabilities(can_deactivate=True, can_rename_user=False, can_find_by_email=False)
CONFLUENCE_8_1 = Capabilities(can_create_user=False, can_deactivate=False, can_find_by_email=False)
BITBUCKET = Capabilities(can_deactivate=False, can_rename_user=True, can_find_by_email=True)


def create_user(name, display_name, email, keys=()):
    return Operation("create_user", name, display_name=display_name, email=email, application_keys=keys)


def link(name):
    return Operation("link_user", name)


def update(name, *, display_name=None, email=None):
    return Operation("update_user", name, display_name=display_name, email=email)


def rename(old, new):
    return Operation("rename_user", old, new_name=new)


def activate(name, active=True):
    return Operation("set_active", name, active=active)


def grant(name):
    return Operation("grant_licence", name)


def revoke(name):
    return Operation("revoke_licence", name)


def delete_user(name):
    return Operation("delete_user", name)


def create_group(name):
    return Operation("create_group", name)


def delete_group(name):
    return Operation("delete_group", name)


def add(user, group):
    return Operation("add_member", user, group=group)


def remove(user, group):
    return Operation("remove_member", user, group=group)


def shape(plan: Plan) -> tuple:
    """The parts of a plan every case asserts exactly: operations in order, skipped, notes."""
    return plan.operations, plan.skipped, plan.notes
