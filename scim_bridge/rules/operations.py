"""The operations a plan is made of: one small frozen class per call the bridge makes on a target.

Each class knows four things, so that nothing else in the bridge dispatches on what an operation is
(docs/architecture.md, "Delivery and the worker"):

* ``action`` — a stable name, the audit log's ``action`` column;
* ``describe()`` — one line for the audit log, the dry-run plan and ``reconcile``'s report;
* ``call(client)`` — the :class:`~atlassian_clients.base.DirectoryClient` call it makes;
* ``advance(state, result)`` — the applied state once the call succeeded (``result`` is what the
  call returned, ``None`` in a dry run);
* ``mutates`` — whether the call changes the product (a dry run makes none; a 403 to it is a
  refusal, not the bridge's own missing rights).

``needs_group`` names the group the call needs to exist (a 404 then means "the group is gone", see
``sync/failure_policy.py``); ``exclusive`` names what concurrent deliveries in one process must not
do at once (two creates of one group).

The state advanced is an :class:`~scim_bridge.rules.model.AppliedUser` in a user's plan and an
:class:`~scim_bridge.rules.model.AppliedGroup` in a group's plan. Operations on memberships and
groups appear in both, so they advance the state through its own ``member_added`` / ``group_created``
(and so on) methods: a user records its groups, a group its name.

Adding a kind of operation (e.g. handing a project lead over) is one class here and one row in
``tests/unit/test_operations.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from atlassian_clients.base import Creation, DirectoryClient
from scim_bridge.rules.names import name_key


@dataclass(frozen=True)
class Operation:
    """Base of every operation; ``name`` is the user or group the call is about."""

    action: ClassVar[str]
    mutates: ClassVar[bool] = True

    name: str

    def describe(self) -> str:
        return f"{self.action.replace('_', ' ')} {self.name}"

    def call(self, client: DirectoryClient) -> Any:
        raise NotImplementedError

    def advance(self, state: Any, result: Any) -> Any:
        return state

    @property
    def needs_group(self) -> str | None:
        return None

    @property
    def exclusive(self) -> str | None:
        return None

    @property
    def together(self) -> tuple | None:
        """Operations in a row with the same key can be made by one ``call_together`` where the
        product takes them at once (``Capabilities.can_add_groups_at_once``); None: always alone."""
        return None

    def call_together(self, client: DirectoryClient, operations: tuple[Operation, ...]) -> Any:
        raise NotImplementedError


# -- users ---------------------------------------------------------------------------------------


class AccountFound(Exception):
    """A create sent without looking for the account first (``CreateUser.unread``) found the name
    taken: the account exists, nothing was changed, and the delivery plans again knowing it."""

    def __init__(self, account: Any):
        super().__init__(f"an account {getattr(account, 'name', '?')} already exists")
        self.account = account


@dataclass(frozen=True)
class CreateUser(Operation):
    action: ClassVar[str] = "create_user"
    display_name: str = ""
    email: str = ""
    application_keys: tuple[str, ...] = ()
    # The account was not looked for before this create (sync/create_first.py): "name taken" then
    # means an account the plan did not know of, which must be judged before it is linked.
    unread: bool = False

    def call(self, client: DirectoryClient) -> Creation:
        creation = client.create_user(self.name, self.display_name or self.name, self.email,
                                      application_keys=self.application_keys or None)
        if self.unread and not creation.created:
            raise AccountFound(creation.resource)
        return creation

    def advance(self, state, result):
        remote = result.resource if isinstance(result, Creation) else None
        if remote is None:
            return replace(state, name=self.name, display_name=self.display_name, email=self.email, active=True)
        # What the product does not report (Confluence: the e-mail address) is what the create sent.
        return replace(state, name=remote.name, key=remote.key, display_name=remote.display_name or self.display_name,
                       email=remote.email or self.email, active=True)


@dataclass(frozen=True)
class LinkUser(Operation):
    """The account exists: linking it is bookkeeping only, no call."""

    action: ClassVar[str] = "link_user"
    mutates: ClassVar[bool] = False

    def call(self, client: DirectoryClient) -> None:
        return None

    def advance(self, state, result):
        return replace(state, name=self.name)


@dataclass(frozen=True)
class UpdateUser(Operation):
    action: ClassVar[str] = "update_user"
    display_name: str | None = None
    email: str | None = None

    def call(self, client: DirectoryClient) -> None:
        client.update_user(self.name, display_name=self.display_name, email=self.email)

    def advance(self, state, result):
        return replace(state, display_name=self.display_name or state.display_name,
                       email=self.email or state.email)


@dataclass(frozen=True)
class SetActive(Operation):
    action: ClassVar[str] = "set_active"
    active: bool = True

    def describe(self) -> str:
        return f"{'activate' if self.active else 'deactivate'} {self.name}"

    def call(self, client: DirectoryClient) -> None:
        client.set_active(self.name, self.active)

    def advance(self, state, result):
        return replace(state, active=self.active)


@dataclass(frozen=True)
class RenameUser(Operation):
    action: ClassVar[str] = "rename_user"
    new_name: str = ""

    def describe(self) -> str:
        return f"rename {self.name} to {self.new_name}"

    def call(self, client: DirectoryClient) -> None:
        client.rename_user(self.name, self.new_name)

    def advance(self, state, result):
        return replace(state, name=self.new_name)


@dataclass(frozen=True)
class DeleteUser(Operation):
    action: ClassVar[str] = "delete_user"

    def call(self, client: DirectoryClient) -> None:
        client.delete_user(self.name)

    def advance(self, state, result):
        return None  # no account left to hold state for


# Where a product cannot deactivate (Bitbucket), the licence is what "active" means
# (docs/architecture.md, "Rules").


@dataclass(frozen=True)
class GrantLicence(Operation):
    action: ClassVar[str] = "grant_licence"

    def call(self, client: DirectoryClient) -> None:
        client.grant_licence(self.name)

    def advance(self, state, result):
        return replace(state, active=True)


@dataclass(frozen=True)
class RevokeLicence(Operation):
    action: ClassVar[str] = "revoke_licence"

    def call(self, client: DirectoryClient) -> None:
        client.revoke_licence(self.name)

    def advance(self, state, result):
        return replace(state, active=False)


# -- groups and memberships ------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateGroup(Operation):
    action: ClassVar[str] = "create_group"

    def call(self, client: DirectoryClient) -> Creation:
        # Checked first, under the executor's lock on ``exclusive``: concurrent deliveries in one
        # process then send one create, not one each answered 409 (docs/architecture.md).
        found = client.get_group(self.name)
        if found is not None:
            return Creation(found, created=False)
        return client.create_group(self.name)

    def advance(self, state, result):
        return state.group_created(self.name)

    @property
    def exclusive(self) -> str:
        return f"group:{name_key(self.name)}"


@dataclass(frozen=True)
class DeleteGroup(Operation):
    action: ClassVar[str] = "delete_group"

    def call(self, client: DirectoryClient) -> None:
        client.delete_group(self.name)

    def advance(self, state, result):
        return state.group_deleted(self.name)

    @property
    def exclusive(self) -> str:
        return f"group:{name_key(self.name)}"


@dataclass(frozen=True)
class AddMember(Operation):
    """Put the account ``name`` in ``group``."""

    action: ClassVar[str] = "add_member"
    group: str = ""

    def describe(self) -> str:
        return f"add {self.name} to {self.group}"

    def call(self, client: DirectoryClient) -> None:
        client.add_member(self.group, self.name)

    def advance(self, state, result):
        return state.member_added(self.group)

    @property
    def needs_group(self) -> str:
        return self.group

    @property
    def together(self) -> tuple:
        return (self.action, self.name)

    def call_together(self, client: DirectoryClient, operations: tuple[Operation, ...]) -> None:
        client.add_memberships(self.name, [op.group for op in operations if isinstance(op, AddMember)])


@dataclass(frozen=True)
class RemoveMember(Operation):
    """Take the account ``name`` out of ``group``."""

    action: ClassVar[str] = "remove_member"
    group: str = ""

    def describe(self) -> str:
        return f"remove {self.name} from {self.group}"

    def call(self, client: DirectoryClient) -> None:
        client.remove_member(self.group, self.name)

    def advance(self, state, result):
        return state.member_removed(self.group)



# -- what a leaver leads ---------------------------------------------------------------------------
# Handed to a successor before the account is deactivated or deleted: Jira leaves a project or
# component whose lead is inactive without a lead that can act (docs/products.md §2.13). The account
# state does not change: the applied state is returned as it is.


@dataclass(frozen=True)
class HandOverProjectLead(Operation):
    """Make ``successor`` the lead of project ``project``, which the leaver ``name`` leads."""

    action: ClassVar[str] = "hand_over_project_lead"
    project: str = ""
    successor: str = ""

    def describe(self) -> str:
        return f"hand the lead of project {self.project} from {self.name} to {self.successor}"

    def call(self, client: DirectoryClient) -> None:
        client.set_project_lead(self.project, self.successor)


@dataclass(frozen=True)
class HandOverComponentLead(Operation):
    """Make ``successor`` the lead of component ``component`` (its id), which ``name`` leads."""

    action: ClassVar[str] = "hand_over_component_lead"
    component: str = ""
    label: str = ""  # PROJECT/Component, for people
    successor: str = ""

    def describe(self) -> str:
        return f"hand the lead of component {self.label or self.component} from {self.name} to {self.successor}"

    def call(self, client: DirectoryClient) -> None:
        client.set_component_lead(self.component, self.successor)
