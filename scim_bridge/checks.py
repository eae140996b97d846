"""What ``scim-bridge check-config`` checks beyond the configuration's own validity: that provisioning
would work — a bearer token to accept identity providers with, a target to provision, and on each
target the groups, Jira applications and user directory the rules name (docs/cli.md, "check-config").

Each product is asked through its client (``atlassian_clients``, over the one HTTP policy), with read
calls only. A check gives :class:`Finding`\\ s: what was found, a warning (provisioning works, but
maybe not as meant), or a problem (provisioning would go wrong: the message says how and what to fix).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from atlassian_clients import AtlassianError
from scim_bridge.auth import list_tokens
from scim_bridge.config import Settings, TargetSettings
from scim_bridge.rules.names import map_group_name
from scim_bridge.store.models import Group
from scim_bridge.sync.executor import Target

OK, WARNING, PROBLEM = "ok", "warning", "problem"
# Mapped groups looked up per target when groups.create is false: a bound on check-config's calls.
MAPPED_GROUPS_CHECKED = 100


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warning | problem
    where: str  # the setting it is about, as config.yaml spells it
    message: str

    def line(self) -> str:
        prefix = {OK: "", WARNING: "warning: ", PROBLEM: "problem: "}[self.level]
        return f"{prefix}{self.where}: {self.message}"


def check_tokens(engine: sa.Engine | None, config: Settings) -> list[Finding]:
    """``engine`` None: the schema is not created yet, so no token is stored."""
    configured = len(config.auth.tokens)
    stored = 0 if engine is None else sum(e.source == "database" and e.state == "active"
                                          for e in list_tokens(engine, ()))
    if configured + stored == 0:
        return [Finding(PROBLEM, "auth.tokens", "no bearer token is configured or stored, so every identity "
                        "provider request is refused (401): run `scim-bridge token create NAME` or add one "
                        "to auth.tokens")]
    return [Finding(OK, "auth.tokens", f"{configured} token(s) in the configuration file, {stored} active "
                    "token(s) stored")]


def check_targets_present(config: Settings) -> list[Finding]:
    if any(t.enabled for t in config.targets.values()):
        return []
    return [Finding(WARNING, "targets", "no enabled target: the bridge keeps what identity providers send "
                    "and provisions no product (add one under targets:)")]


def check_target(target: Target, settings: TargetSettings, engine: sa.Engine | None) -> list[Finding]:
    """The groups, applications and directory ``target``'s rules and options name, asked of the product.
    A product that fails a read is a problem naming the check (the target answered check-config's
    first call, so this is the bridge's rights or the product's answer)."""
    where = f"targets.{target.name}"
    found: list[Finding] = []
    rules = target.rules
    for setting, check in ((f"{where}.rules.default_groups", lambda: _groups_exist(
                                target, rules.default_groups, f"{where}.rules.default_groups",
                                "users would be put in a new, empty group of that name and get no licence")),
                           (f"{where}.options.licence_group", lambda: _licence_group(target, settings, where)),
                           (f"{where}.rules.groups", lambda: _mapped_groups(target, engine, where)),
                           (f"{where}.rules.application_keys", lambda: _application_keys(target, where)),
                           (f"{where}.rules.directory", lambda: _directory(target, where))):
        try:
            found += check()
        except AtlassianError as error:
            found.append(Finding(PROBLEM, setting, f"could not be checked: {error}"))
    return found


def _groups_exist(target: Target, names: Iterable[str], where: str, otherwise: str) -> list[Finding]:
    found, missing = [], []
    for name in names:
        (found if target.client.get_group(name) is not None else missing).append(name)
    out = [Finding(PROBLEM, where, f"no group named {name!r} on {target.name}: {otherwise} (check the spelling "
                   "against the product's groups)") for name in missing]
    if found:
        out.insert(0, Finding(OK, where, f"{', '.join(found)} found on {target.name}"))
    return out


def _licence_group(target: Target, settings: TargetSettings, where: str) -> list[Finding]:
    group = getattr(settings.options, "licence_group", None)
    if not group:
        return []
    return _groups_exist(target, [group], f"{where}.options.licence_group",
                         "the accounts the bridge licenses would be put in it, and no Confluence permission "
                         "licenses its members")


def _mapped_groups(target: Target, engine: sa.Engine | None, where: str) -> list[Finding]:
    """With ``groups.create: false`` the groups SCIM groups map to must exist already."""
    if target.rules.groups.create or engine is None:
        return []
    with engine.connect() as conn:
        names = conn.execute(sa.select(Group.display_name).where(Group.deleted_at.is_(None))
                             .order_by(Group.display_name_lower)).scalars()
        mapped = {m: n for n in names if (m := map_group_name(n, target.rules)) is not None}
    checked = sorted(mapped)[:MAPPED_GROUPS_CHECKED]
    missing = [m for m in checked if target.client.get_group(m) is None]
    out = [Finding(PROBLEM, f"{where}.rules.groups", f"groups.create is false and no group named {m!r} (the "
                   f"SCIM group {mapped[m]!r} maps to it) exists on {target.name}: its memberships will be "
                   "refused (create the group, or correct groups.name)") for m in missing]
    if checked and not missing:
        more = f" (the first {len(checked)} of {len(mapped)})" if len(mapped) > len(checked) else ""
        out.append(Finding(OK, f"{where}.rules.groups", f"the {len(checked)} group(s) SCIM groups map to{more} "
                           f"exist on {target.name}"))
    return out


def _application_keys(target: Target, where: str) -> list[Finding]:
    keys = target.rules.application_keys
    roles_of = getattr(target.client, "application_roles", None)
    if not keys or roles_of is None:  # application keys are Jira's only
        return []
    roles = {role.key: role for role in roles_of()}
    missing = [k for k in keys if k not in roles]
    has = ", ".join(sorted(roles)) or "none"
    out = [Finding(PROBLEM, f"{where}.rules.application_keys", f"{target.name} has no application {key!r} "
                   f"(it has: {has}): creating a user there would be refused") for key in missing]
    present = [k for k in keys if k in roles]
    if present:
        out.insert(0, Finding(OK, f"{where}.rules.application_keys", f"{', '.join(present)} found on {target.name}"))
    return out


def _directory(target: Target, where: str) -> list[Finding]:
    wanted = target.rules.directory
    if not wanted:
        return []
    info = target.client.product_info()
    setting = f"{where}.rules.directory"
    if info.directories is None:
        # docs/products.md §1.7: only Bitbucket lists its directories (and an account's) over REST.
        return [Finding(WARNING, setting, f"not checked: {info.product} does not list its user directories "
                        "over REST, and the setting has no effect there")]
    directories = {d.name: d for d in info.directories}
    directory = directories.get(wanted)
    if directory is None:
        has = ", ".join(sorted(directories)) or "none"
        return [Finding(PROBLEM, setting, f"no user directory named {wanted!r} on {target.name} (it has: {has}): "
                        "every account would be reported as in another directory and left alone")]
    if directory.active is False:
        return [Finding(WARNING, setting, f"the user directory {wanted!r} is inactive on {target.name}")]
    return [Finding(OK, setting, f"user directory {wanted!r} found on {target.name}")]


def check_provisioning(config: Settings, targets: Mapping[str, Target], engine: sa.Engine | None,
                       reachable: Iterable[str]) -> list[Finding]:
    """Every check: tokens, targets present, and the rules of each target in ``reachable``; ``engine``
    None when the schema is not created yet."""
    found = check_tokens(engine, config) + check_targets_present(config)
    for name in reachable:
        found += check_target(targets[name], config.targets[name], engine)
    return found
