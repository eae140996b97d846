"""The shipped systemd units and the set-up guides say only what the bridge does.

The units in ``deploy/`` must parse (``systemd-analyze verify`` where it is installed), carry every
``Key=value`` that ``docs/running.md`` promises, run commands the bridge has, and leave the SQLite
directory of the guide's configuration writable. Every ``config.yaml`` key a guide names in backticks
(``rules.users.deactivate``, ``delivery.worker: false``) must be one the configuration accepts, and
every YAML block in a guide must load as a configuration.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scim_bridge.config import load_config
from scim_bridge.errors import ConfigError
from tests.support import REPO_ROOT

DOCS = REPO_ROOT / "docs"
GUIDES = sorted(DOCS.glob("setup-*.md")) + [DOCS / "running.md"]
UNITS = {name: REPO_ROOT / "deploy" / name for name in ("scim-bridge.service", "scim-bridge-worker.service")}
# Where docs/running.md installs the checkout and its virtual environment.
INSTALL_BIN = "/opt/scim-bridge/.venv/bin/"

# The top-level sections of config.yaml, and the sections of `rules:` a guide may name without the
# `rules.` prefix (`users.deactivate`).
SECTIONS = frozenset(yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8")))
RULES_SECTIONS = frozenset({"username", "users", "groups", "directory", "default_groups", "application_keys",
                            "deactivate_with", "dry_run"})
# A key in backticks, with an optional YAML value: `rules.users.deactivate`, `delivery.worker: false`.
_KEY = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+)(?::\s*([^`]+))?`")
# Values tried for a key named without one: a key exists when the configuration accepts one of them.
_CANDIDATES = (True, 1, 60, "x", "https://scim.example.com/scim/v2", "sqlite:///bridge.db", "INFO", "deactivate",
               "username", "remove_license", [], {}, None)


# -- the unit files --------------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """``section → key → values`` of a systemd unit file (keys may repeat, as ``Environment=`` does)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: not a key=value line in a section"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _single(unit: dict, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= set {len(values)} times"
    return values[0]


def _guide_yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def _sqlite_directories() -> set[str]:
    """Directories of the SQLite databases docs/running.md configures."""
    found = set()
    for block in _guide_yaml_blocks(DOCS / "running.md"):
        url = (yaml.safe_load(block).get("database") or {}).get("url", "")
        if url.startswith("sqlite:////"):
            found.add(str(Path(url.removeprefix("sqlite:///")).parent))
    return found


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_runs_as_its_own_user_with_secrets_from_a_file_and_a_read_only_system(name):
    unit = _unit(UNITS[name])
    service = unit["Service"]
    assert _single(unit, "Service", "User") == "scim-bridge"
    assert _single(unit, "Service", "Group") == "scim-bridge"
    assert _single(unit, "Service", "EnvironmentFile").startswith("/etc/scim-bridge/")
    assert _single(unit, "Service", "ProtectSystem") == "strict"
    assert _single(unit, "Service", "NoNewPrivileges") == "yes"
    assert "SCIM_BRIDGE_CONFIG=/etc/scim-bridge/config.yaml" in service["Environment"]
    writable = set(" ".join(service["ReadWritePaths"]).split())
    # SQLite in WAL mode writes -wal and -shm files beside the database: the directory is writable.
    assert _sqlite_directories() and _sqlite_directories() <= writable, (writable, _sqlite_directories())
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_api_unit_serves_with_gunicorn_and_the_worker_unit_delivers():
    api, worker = _unit(UNITS["scim-bridge.service"]), _unit(UNITS["scim-bridge-worker.service"])
    assert _single(api, "Service", "ExecStart") == f"{INSTALL_BIN}gunicorn app:app"
    assert _single(worker, "Service", "ExecStart") == \
        f"{INSTALL_BIN}python -m scim_bridge.cli worker --stop-timeout 30 --metrics-port 9464"
    # The worker stops gracefully on SIGTERM (scim_bridge/cli.py ``worker``), within --stop-timeout,
    # which systemd's TimeoutStopSec must exceed.
    assert _single(worker, "Service", "KillSignal") == "SIGTERM"
    assert float(_single(worker, "Service", "TimeoutStopSec")) > 30
    assert (REPO_ROOT / _single(api, "Service", "WorkingDirectory").replace("/opt/scim-bridge", ".")
            / "gunicorn.conf.py").exists()


@pytest.mark.parametrize("name", sorted(UNITS))
def test_the_commands_a_unit_runs_exist(name):
    """Each ``python -m scim_bridge.cli …`` a unit runs answers ``--help`` (the command is there)."""
    service = _unit(UNITS[name])["Service"]
    commands = [c for key in ("ExecStartPre", "ExecStart") for c in service.get(key, [])
                if c.startswith(f"{INSTALL_BIN}python ")]
    assert commands or name == "scim-bridge.service" and service["ExecStart"]
    for command in commands:
        args = command.removeprefix(f"{INSTALL_BIN}python ").split()
        done = subprocess.run([sys.executable, *args, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, (command, done.stdout, done.stderr)


@pytest.mark.parametrize("name", sorted(UNITS))
def test_the_environment_a_unit_sets_is_read_by_the_bridge(name):
    service = _unit(UNITS[name])["Service"]
    sources = "\n".join(p.read_text(encoding="utf-8") for p in
                        [REPO_ROOT / "gunicorn.conf.py", *sorted((REPO_ROOT / "scim_bridge").rglob("*.py"))])
    for assignment in service.get("Environment", []):
        variable = assignment.split("=", 1)[0]
        assert f'"{variable}"' in sources, f"{variable} is read nowhere in the bridge"


def test_every_unit_setting_the_running_guide_promises_is_in_the_units():
    promised = re.findall(r"`([A-Z][a-z][A-Za-z]*)=([^`]*)`", (DOCS / "running.md").read_text(encoding="utf-8"))
    assert len(promised) >= 8, promised
    units = [_unit(path) for path in UNITS.values()]
    for key, value in promised:
        shipped = [v for unit in units for section in unit.values() for v in section.get(key, [])]
        assert shipped, f"docs/running.md promises {key}= but no unit sets it"
        if value:
            assert value in shipped, f"docs/running.md promises {key}={value}; the units set {shipped}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("name", sorted(UNITS))
def test_systemd_accepts_the_unit(name, tmp_path):
    """``systemd-analyze verify`` with the guide's install prefix pointed at this interpreter's bin
    directory (verify insists that the executables exist); any remark about the file fails."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "gunicorn").exists():
        pytest.skip(f"gunicorn is not installed beside {sys.executable}")
    copy = tmp_path / name
    copy.write_text(UNITS[name].read_text(encoding="utf-8").replace(INSTALL_BIN, f"{bin_dir}/"), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=120)
    remarks = [line for line in (done.stdout + done.stderr).splitlines() if name in line]
    assert (done.returncode, remarks) == (0, []), done.stdout + done.stderr


# -- configuration keys and blocks in the guides -------------------------------------------------------


def _nested(path: list[str], value) -> dict:
    for part in reversed(path):
        value = {part: value}
    return value


def _raw_config(key: str, value) -> dict:
    parts = key.split(".")
    if parts[0] not in SECTIONS:
        parts = ["rules", *parts]
    if parts[0] == "targets" and len(parts) > 2:
        name = parts[1]
        target = {"type": name if name in ("jira", "confluence", "bitbucket") else "jira",
                  "url": "https://atlassian.example.com", "username": "svc-scim", "password": "secret"}
        return {"targets": {name: {**target, **_nested(parts[2:], value)}}}
    return _nested(parts, value)


def _accepted(key: str, value_text: str | None, tmp_path: Path) -> bool:
    """Whether the configuration accepts ``key`` (with the value a guide gave, or else any candidate)."""
    values = _CANDIDATES if value_text is None else (yaml.safe_load(value_text),)
    file = tmp_path / "config.yaml"
    for value in values:
        file.write_text(yaml.safe_dump(_raw_config(key, value)), encoding="utf-8")
        try:
            load_config(file, environ={})
        except ConfigError:
            continue
        return True
    return False


def _named_keys(path: Path) -> list[tuple[str, str | None]]:
    keys = []
    for key, value in _KEY.findall(path.read_text(encoding="utf-8")):
        if key.split(".")[0] in SECTIONS | RULES_SECTIONS:
            keys.append((key, value.strip() or None))
    return keys


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_configuration_key_a_guide_names_exists(guide, tmp_path):
    keys = _named_keys(guide)
    assert keys, f"{guide.name} names no configuration key"
    unknown = [f"{key}: {value}" if value else key for key, value in keys if not _accepted(key, value, tmp_path)]
    assert unknown == [], f"{guide.name} names settings the configuration refuses"


def test_the_key_check_refuses_a_misspelt_key_and_a_bad_value(tmp_path):
    assert _accepted("rules.users.deactivate", None, tmp_path)
    assert _accepted("targets.bitbucket.rules.users.deactivate", "false", tmp_path)
    assert not _accepted("rules.users.deactivated", None, tmp_path)
    assert not _accepted("users.on_delete", "purge", tmp_path)
    assert not _accepted("targets.jira.rules.user.create", None, tmp_path)


def test_the_onelogin_guide_maps_each_option_of_the_marketplace_app_to_a_setting():
    text = (DOCS / "setup-onelogin.md").read_text(encoding="utf-8")
    table = {row.split("|")[1].strip(): row.split("|")[2] for row in text.splitlines()
             if row.startswith("| ") and row.count("|") >= 4}
    expected = {"Directory selection": "rules.directory", "Import users": "rules.users.create",
                "Username regex": "rules.username.regex", "Update users": "rules.users.update",
                "Enable users": "rules.users.activate", "Disable users": "rules.users.deactivate"}
    for option, setting in expected.items():
        row = next((cells for name, cells in table.items() if name.startswith(option)), None)
        assert row is not None, f"no row for {option!r} in setup-onelogin.md"
        assert f"`{setting}`" in row, (option, row)


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_yaml_block_of_a_guide_is_a_configuration_the_bridge_loads(guide, tmp_path):
    blocks = _guide_yaml_blocks(guide)
    for block in blocks:
        variables = {name: "set-in-the-environment-file" for name in re.findall(r"\$\{(\w+)\}", block)}
        file = tmp_path / "config.yaml"
        file.write_text(block, encoding="utf-8")
        try:
            load_config(file, environ=variables)
        except ConfigError as exc:
            pytest.fail(f"{guide.name}: a configuration block does not load: {exc}\n{block}")
