"""The ``rules:`` settings: validated with marshmallow, merged per target, frozen into ``TargetRules``.

The same schema reads the global ``rules:`` section and each ``targets.<name>.rules:`` override, so
every key is optional and nothing gets a default here: a key left out means "as the global rules
say", and the dataclass defaults in ``model.py`` fill what neither sets.
"""

from __future__ import annotations

import re
from dataclasses import replace

from marshmallow import ValidationError, fields, validate, validates_schema

from scim_bridge.errors import ConfigError
from scim_bridge.rules.model import GroupNameRule, GroupRules, HandoverRules, TargetRules, UsernameRule, UserRules
from scim_bridge.rules.names import DEFAULT_REPLACEMENT, LOWER_CASE_PRODUCTS, compiled_rule
from scim_bridge.validation import StrictSchema, error_lines

ON_DELETE = ("deactivate", "delete", "ignore")
MATCH_EXISTING = ("username", "email", "none")
DEACTIVATE_WITH = ("remove_license", "delete")
# Products whose clients ignore Jira's application keys: dropped so their plans do not show them.
NO_APPLICATION_KEYS = frozenset({"confluence", "bitbucket"})


def _compiles(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        where = "" if exc.pos is None else f" at position {exc.pos}"
        raise ValidationError(f"not a valid regular expression: {exc.msg}{where}") from None


def _replacement_problem(regex: str, replacement: str) -> str | None:
    try:
        compiled_rule(regex, replacement)
    except (re.error, ValueError) as exc:
        return str(exc)
    return None


def _names() -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1)))


class _NameRuleSchema(StrictSchema):
    regex = fields.String(allow_none=True, validate=_compiles)
    replacement = fields.String()
    lowercase = fields.Boolean()

    @validates_schema(skip_on_field_errors=True)
    def _replacement_fits_regex(self, data: dict, **kwargs) -> None:
        # Only when both are in the same section: an override may set one and inherit the other;
        # ``effective_rules`` checks the merged pair.
        if data.get("regex") is not None and "replacement" in data:
            problem = _replacement_problem(data["regex"], data["replacement"])
            if problem:
                raise ValidationError(problem, field_name="replacement")


class UsersSchema(StrictSchema):
    create = fields.Boolean()
    update = fields.Boolean()
    activate = fields.Boolean()
    deactivate = fields.Boolean()
    on_delete = fields.String(validate=validate.OneOf(ON_DELETE))
    match_existing = fields.String(validate=validate.OneOf(MATCH_EXISTING))
    protected = _names()


class GroupsSchema(StrictSchema):
    create = fields.Boolean()
    delete = fields.Boolean()
    sync_members = fields.Boolean()
    include = fields.List(fields.String(validate=_compiles))
    exclude = fields.List(fields.String(validate=_compiles))
    name = fields.Nested(_NameRuleSchema)
    keep_unmanaged = fields.Boolean()


class HandoverSchema(StrictSchema):
    default_lead = fields.String(allow_none=True, validate=validate.Length(min=1))


class RulesSchema(StrictSchema):
    """``rules:`` globally and ``targets.<name>.rules:``; every key optional (see the module doc)."""

    username = fields.Nested(_NameRuleSchema)
    users = fields.Nested(UsersSchema)
    directory = fields.String(allow_none=True, validate=validate.Length(min=1))
    groups = fields.Nested(GroupsSchema)
    default_groups = _names()
    application_keys = _names()
    deactivate_with = fields.String(validate=validate.OneOf(DEACTIVATE_WITH))
    handover = fields.Nested(HandoverSchema)
    dry_run = fields.Boolean()


def effective_rules(global_raw: dict | None, target_raw: dict | None, product: str, *,
                    target: str | None = None) -> TargetRules:
    """The rules of one target: ``target_raw`` over ``global_raw`` key by key, then frozen.

    Sections merge recursively; a list or a value replaces the global one whole (so a target can
    drop a global ``protected`` entry or ``exclude`` regex), and ``null`` clears ``regex`` or
    ``directory``. Either side may be raw YAML or the output of ``RulesSchema().load``. ``target``
    names the target in error messages (``targets.<target>.rules.…``).
    """
    where = f"targets.{target}.rules" if target else "target rules"
    merged = _deep_merge(_load(global_raw, "rules"), _load(target_raw, where))
    forced_lower = product in LOWER_CASE_PRODUCTS
    for section in ("username", "groups.name"):
        if forced_lower and _lookup(target_raw or {}, f"{section}.lowercase") is False:
            raise ConfigError(f"{where}.{section}.lowercase: {product} refuses upper-case names; remove the setting")

    username_rule = UsernameRule(**merged.get("username", {}))
    groups = dict(merged.get("groups", {}))
    name_rule = GroupNameRule(**groups.pop("name", {}))
    for path, rule in (("username", username_rule), ("groups.name", name_rule)):
        if rule.regex is not None:
            replacement = DEFAULT_REPLACEMENT if rule.replacement is None else rule.replacement
            problem = _replacement_problem(rule.regex, replacement)
            if problem:
                raise ConfigError(f"{where} (merged with rules): {path}.replacement: {problem}")
    if forced_lower:
        username_rule = replace(username_rule, lowercase=True)
        name_rule = replace(name_rule, lowercase=True)

    users = dict(merged.get("users", {}))
    users["protected"] = tuple(users.get("protected", ()))
    for key in ("include", "exclude"):
        groups[key] = tuple(groups.get(key, ()))
    default_groups = tuple(merged.get("default_groups", ()))
    if forced_lower:
        default_groups = tuple(name.lower() for name in default_groups)
    scalars = {k: merged[k] for k in ("directory", "deactivate_with", "dry_run") if k in merged}
    return TargetRules(
        product=product,
        username=username_rule,
        users=UserRules(**users),
        groups=GroupRules(name=name_rule, **groups),
        default_groups=default_groups,
        application_keys=() if product in NO_APPLICATION_KEYS else tuple(merged.get("application_keys", ())),
        handover=HandoverRules(**merged.get("handover", {})),
        **scalars,
    )


def _load(raw: dict | None, where: str) -> dict:
    try:
        return RulesSchema().load(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{where}.{key}: {message}" for key, message in error_lines(exc.messages))
        raise ConfigError(problems) from None


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _lookup(raw: dict, dotted: str):
    value = raw
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
