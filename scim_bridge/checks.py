"""What ``scim-bridge check-config`` checks beyond the configuration's own validity: that provisioning
would work — a bearer token to accept identity providers with, a target to provision, and on each
target the groups, Jira applications and user directory the rules name (docs/cli.md, "check-config").

Each product is asked through its client (``atlassian_clients``, over the one HTTP policy), with read
calls only. A check gives :class:`Finding`\\ s: what was found, a warning (provisioning works, but
maybe not as meant), or a problem (provisioning would go wrong: the message says how and what to fix).

:func:`check_all` is every check, as ``check-config`` and the console's Configuration page run them;
a run's findings are kept in ``config_checks`` (:func:`open_check`, :func:`close_check`), and the page
shows the latest (:func:`latest_check`, docs/console.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from atlassian_clients import AtlassianError, Unavailable
from scim_bridge.auth import list_tokens
from scim_bridge.config import Settings, TargetSettings
from scim_bridge.rules.names import map_group_name
from scim_bridge.store.database import make_session_factory
from scim_bridge.store.models import ConfigCheck, utcnow
from scim_bridge.sync.executor import Target
from scim_bridge.sync.records import DeliveryRecords

OK, WARNING, PROBLEM = "ok", "warning", "problem"
# Mapped groups looked up per target when groups.create is false: a bound on check-config's calls.
MAPPED_GROUPS_CHECKED = 100
# Runs kept in config_checks (the page shows the latest); a run not finished after this long died with
# its process.
KEPT_RUNS = 10
STALE_AFTER = timedelta(minutes=30)


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
    names = sorted(DeliveryRecords(engine).live_group_names(), key=str.lower)
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


def probe_targets(targets: Mapping[str, Target]) -> tuple[list[Finding], list[str], list[str]]:
    """Calls each target's product_info: (one finding per target — its product, version and abilities,
    or the error that names what to fix —, names refused, names unreachable)."""
    found, refused, unreachable = [], [], []
    for name, target in targets.items():
        try:
            info = target.client.product_info()
        except AtlassianError as error:  # names the target and says what to fix
            found.append(Finding(PROBLEM, f"targets.{name}", str(error)))
            (unreachable if isinstance(error, Unavailable) else refused).append(name)
            continue
        caps = info.capabilities
        can = [word for word, able in (("deactivate", caps.can_deactivate), ("rename users", caps.can_rename_user),
                                       ("find by e-mail", caps.can_find_by_email)) if able]
        abilities = ", ".join(can) or "none of deactivate, rename users, find by e-mail"
        version = info.version or "(version not reported)"  # Crowd tells an application none
        found.append(Finding(OK, f"targets.{name}", f"{info.product} {version}; can {abilities}"))
    return found, refused, unreachable


@dataclass(frozen=True)
class Checked:
    reached: list[Finding]  # probe_targets: one per target
    findings: list[Finding]  # check_provisioning
    refused: list[str]
    unreachable: list[str]

    def data(self) -> list[dict]:
        """Every finding as plain data for ``config_checks``, with the target it is about."""
        return [{"level": f.level, "where": f.where, "message": f.message, "target": _target_of(f.where)}
                for f in (*self.reached, *self.findings)]


def check_all(config: Settings, targets: Mapping[str, Target], engine: sa.Engine) -> Checked:
    """Every check, as ``check-config`` runs them: each target's product_info, then
    :func:`check_provisioning` on the targets that answered."""
    reached, refused, unreachable = probe_targets(targets)
    # A schema not created yet (`db upgrade` makes it) holds no stored token and no group.
    store = engine if sa.inspect(engine).has_table("api_tokens") else None
    answered = [name for name in targets if name not in refused and name not in unreachable]
    return Checked(reached, check_provisioning(config, targets, store, answered), refused, unreachable)


def _target_of(where: str) -> str | None:
    parts = where.split(".")
    return parts[1] if parts[0] == "targets" and len(parts) > 1 else None


# -- the kept results ---------------------------------------------------------------------------------


class ChecksBusy(Exception):
    """A run of the checks is not finished yet (its id in ``args[0]``)."""


@dataclass(frozen=True)
class CheckRecord:
    id: int
    started: datetime
    finished: datetime | None
    started_by: str
    state: str  # running | done | failed | interrupted
    findings: list[dict]
    error: str | None

    @property
    def sections(self) -> list[tuple[str | None, list[dict]]]:
        """The findings per target, in the order they came (None first: tokens and targets)."""
        out: dict[str | None, list[dict]] = {None: []}
        for finding in self.findings:
            out.setdefault(finding.get("target"), []).append(finding)
        return [(target, found) for target, found in out.items() if found]

    def count(self, level: str) -> int:
        return sum(f["level"] == level for f in self.findings)


def has_records(engine: sa.Engine) -> bool:
    """Whether the schema keeps check results (`db upgrade` to 0008 or later)."""
    return sa.inspect(engine).has_table(ConfigCheck.__tablename__)


def open_check(engine: sa.Engine, by: str, now: datetime | None = None) -> int:
    """A running record, unless another run is not finished (:class:`ChecksBusy`)."""
    now = now or utcnow()
    with make_session_factory(engine, write=True)() as session, session.begin():
        running = session.scalar(sa.select(ConfigCheck.id).where(
            ConfigCheck.state == "running", ConfigCheck.started > now - STALE_AFTER).limit(1))
        if running is not None:
            raise ChecksBusy(running)
        return _add(session, ConfigCheck(started=now, started_by=by[:128], state="running", findings=[]))


def record_check(engine: sa.Engine, by: str, started: datetime, checked: Checked) -> int:
    """A finished run's record (``check-config``, which another run in progress does not hold up)."""
    with make_session_factory(engine, write=True)() as session, session.begin():
        return _add(session, ConfigCheck(started=started, finished=utcnow(), started_by=by[:128], state="done",
                                         findings=checked.data()))


def _add(session, row: ConfigCheck) -> int:
    """Add ``row``; records beyond the last :data:`KEPT_RUNS` are dropped."""
    session.add(row)
    session.flush()
    kept = sa.select(ConfigCheck.id).order_by(ConfigCheck.id.desc()).limit(KEPT_RUNS).scalar_subquery()
    session.execute(sa.delete(ConfigCheck).where(ConfigCheck.id.not_in(kept)))
    return row.id


def close_check(engine: sa.Engine, check_id: int, checked: Checked | None = None, error: str | None = None) -> None:
    """Finish a record with ``checked``'s findings, or as failed with ``error``."""
    values = {"state": "done", "findings": checked.data()} if checked is not None else \
        {"state": "failed", "error": (error or "")[:500]}
    with make_session_factory(engine, write=True)() as session, session.begin():
        session.execute(sa.update(ConfigCheck).where(ConfigCheck.id == check_id).values(finished=utcnow(), **values))


def latest_check(engine: sa.Engine, now: datetime | None = None) -> CheckRecord | None:
    now = now or utcnow()
    with make_session_factory(engine)() as session:
        row = session.scalars(sa.select(ConfigCheck).order_by(ConfigCheck.id.desc()).limit(1)).first()
        if row is None:
            return None
        state = "interrupted" if row.state == "running" and row.started <= now - STALE_AFTER else row.state
        return CheckRecord(row.id, row.started, row.finished, row.started_by, state, list(row.findings or []),
                           row.error)
