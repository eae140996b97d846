"""The typed configuration: defaults written once (in the dataclasses), every HTTP setting settable,
and each client's declared options checked at load with messages naming the key."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from marshmallow.utils import missing

from atlassian_clients import CLIENT_TYPES, BitbucketClient, BitbucketOptions, HttpSettings, JiraOptions
from atlassian_clients.options import option, option_specs, yaml_value
from scim_bridge import config as config_module
from scim_bridge import create_app
from scim_bridge.config import Settings, TargetSettings, validate_config
from scim_bridge.errors import ConfigError
from scim_bridge.rules.settings import effective_rules

CONFIG_YAML = Path(__file__).resolve().parents[2] / "config.yaml"


@dataclass(frozen=True)
class PluginOptions(BitbucketOptions):
    directory_id: int = option(1, "the directory new accounts go to")
    weight: float = option(1.0, "a number option")
    aliases: tuple[str, ...] = option((), "a list option")


class PluginClient(BitbucketClient):
    """A plug-in that extends a shipped client's options."""

    Options = PluginOptions


class BareClient:
    """A plug-in that declares no options."""

    @classmethod
    def from_target(cls, target, base_url, auth, **kwargs):
        return cls()


def _target(type_name="jira", **settings):
    return {"targets": {"t": {"type": type_name, "url": "https://x.example.com", "username": "svc",
                              "password": "pw", **settings}}}


# ---- one source of defaults -------------------------------------------------------------------

def test_an_empty_configuration_is_exactly_the_dataclass_defaults():
    assert validate_config({}, environ={}) == Settings()


@pytest.mark.parametrize("product", sorted(CLIENT_TYPES))
def test_a_target_left_at_its_defaults_gets_the_client_dataclass_defaults(product):
    target = validate_config(_target(product), environ={}).targets["t"]
    assert target == TargetSettings(name="t", type=product, url="https://x.example.com",
                                    rules=effective_rules({}, {}, product, target="t"),
                                    username="svc", password="pw", options=CLIENT_TYPES[product].Options())
    assert target.http == HttpSettings()


def _section_schemas():
    return [schema for schema in vars(config_module).values()
            if isinstance(schema, type) and issubclass(schema, config_module._Section)
            and schema is not config_module._Section]


@pytest.mark.parametrize("schema", _section_schemas(), ids=lambda schema: schema.__name__)
def test_each_section_schema_validates_every_field_of_its_dataclass_and_writes_no_default(schema):
    declared = {f.name for f in dataclasses.fields(schema.settings)}
    assert set(schema().fields) == declared
    assert all(f.load_default is missing for f in schema().fields.values())


def test_http_settings_are_the_clients_own_dataclass():
    assert config_module.HttpSchema.settings is HttpSettings


# ---- targets.<name>.http -----------------------------------------------------------------------

def test_every_http_setting_is_read_from_the_configuration():
    values = {f.name: (f.default * 3 if isinstance(f.default, int) else f.default / 4)
              for f in dataclasses.fields(HttpSettings)}
    target = validate_config(_target(http=values), environ={}).targets["t"]
    assert target.http == HttpSettings(**values) != HttpSettings()


@pytest.mark.parametrize(("http", "message"), [
    ({"backoff_max": 0}, "targets.t.http.backoff_max"),
    ({"deadline": "soon"}, "targets.t.http.deadline: Not a valid number"),
    ({"retries": 3}, "targets.t.http.retries: unknown key"),
])
def test_a_bad_http_setting_stops_the_start_naming_it(http, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(_target(http=http), environ={})


# ---- targets.<name>.options --------------------------------------------------------------------

@pytest.mark.parametrize("product", sorted(CLIENT_TYPES))
def test_an_unknown_option_stops_the_start_naming_it_and_what_the_product_takes(product):
    with pytest.raises(ConfigError) as raised:
        validate_config(_target(product, options={"frobnicate": 1}), environ={})
    message = str(raised.value)
    assert f"targets.t.options.frobnicate: unknown option; {product} takes: page_size (an integer, default 100)" \
        in message
    for spec in option_specs(CLIENT_TYPES[product].Options):
        assert spec.name in message


@pytest.mark.parametrize(("product", "key", "value", "expected"), [
    ("jira", "page_size", "many", "Not a valid integer"),
    ("jira", "page_size", 2.5, "Not a valid integer"),
    ("jira", "group_picker_limit", True, "Not a valid integer"),
    ("confluence", "licence_group", 5, "Not a valid string"),
    ("confluence", "notify_new_users", "yes", "Not a valid boolean"),
    ("bitbucket", "add_to_default_group", "false", "Not a valid boolean"),
    (f"{__name__}:PluginClient", "weight", "2.5", "Not a valid number"),
    (f"{__name__}:PluginClient", "aliases", "crowd", "Not a valid list"),
])
def test_an_option_of_the_wrong_type_stops_the_start_naming_it(product, key, value, expected):
    with pytest.raises(ConfigError, match=re.escape(f"targets.t.options.{key}: {expected}")):
        validate_config(_target(product, options={key: value}), environ={})


def test_create_app_refuses_a_bad_option_with_the_configuration_error_not_a_type_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    for options in ({"frobnicate": 1}, {"page_size": "many"}):
        with pytest.raises(ConfigError, match=r"targets\.t\.options\.(frobnicate|page_size)"):
            create_app({"database": {"url": url}, **_target(options=options)})


def test_a_plug_in_declares_its_own_options_and_one_without_a_declaration_takes_none():
    plug_in = f"{__name__}:PluginClient"
    given = {"directory_id": 7, "add_to_default_group": False, "weight": 2, "aliases": ["a", "b"]}
    target = validate_config(_target(plug_in, options=given), environ={}).targets["t"]
    assert target.options == PluginOptions(directory_id=7, add_to_default_group=False, weight=2.0, aliases=("a", "b"))
    with pytest.raises(ConfigError, match=r"targets\.t\.options\.directory: unknown option; .*directory_id"):
        validate_config(_target(plug_in, options={"directory": 7}), environ={})

    bare = f"{__name__}:BareClient"
    assert validate_config(_target(bare), environ={}).targets["t"].options is None
    with pytest.raises(ConfigError, match=r"targets\.t\.options\.x: unknown option; .*BareClient takes no options"):
        validate_config(_target(bare, options={"x": 1}), environ={})


def test_jira_application_keys_are_a_rule_not_an_option():
    with pytest.raises(ConfigError, match=r"targets\.t\.options\.application_keys: unknown option"):
        validate_config(_target(options={"application_keys": ["jira-software"]}), environ={})
    assert "application_keys" not in {spec.name for spec in option_specs(JiraOptions)}


# ---- config.yaml documents them ----------------------------------------------------------------

def _commented_settings(section: str) -> dict[str, str]:
    """``name: value`` lines of the commented example ``targets.jira.<section>`` in config.yaml."""
    text = CONFIG_YAML.read_text(encoding="utf-8")
    block = re.search(rf"^#    {section}:\n((?:#      .*\n)+)", text, re.MULTILINE)
    assert block, f"config.yaml has no commented targets.*.{section} example"
    return dict(re.findall(r"^#      ([a-z_]+): (\S+)", block.group(1), re.MULTILINE))


def test_config_yaml_documents_every_http_setting_with_its_default():
    documented = _commented_settings("http")
    assert {name: float(value) for name, value in documented.items()} == dataclasses.asdict(HttpSettings())


def test_config_yaml_lists_every_option_of_each_product_with_its_default():
    documented = _commented_settings("options")
    declared = {spec.name: yaml_value(spec.default)
                for cls in CLIENT_TYPES.values() for spec in option_specs(cls.Options)}
    assert documented == declared
