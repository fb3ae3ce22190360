"""Unit tests for _entries: container entries validated before anything is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.confine.docker.plugins.module_utils import _entries
from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, validate_entries


def test_valid_entries_give_their_names():
    assert validate_entries([{"name": "web", "image": "nginx"}, {"name": "db.primary_1-a", "image": "pg"}]) == [
        "web", "db.primary_1-a"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "../escape", "image": "x"}], "not a container name"),
        ([{"name": "a/b", "image": "x"}], "not a container name"),
        ([{"name": "a..b", "image": "x"}], "'..' is refused"),
        ([{"name": "web\n", "image": "x"}], "not a container name"),
        ([{"name": "-web", "image": "x"}], "not a container name"),
        ([{"name": "we b", "image": "x"}], "not a container name"),
        ([{"name": "", "image": "x"}], "needs a name"),
        ([{"image": "x"}], "needs a name"),
        ([{"name": 5, "image": "x"}], "needs a name"),
        ([{"name": "w" * 129, "image": "x"}], "longer than 128"),
        ([{"name": "web", "image": "x"}, {"name": "web", "image": "y"}], "more than once"),
        ([{"name": "web", "image": ""}], "image must be a non-empty string"),
        (["web"], "an entry is a mapping"),
        ({"name": "web"}, "must be a list"),
    ],
)
def test_bad_entries_are_refused(entries, message):
    with pytest.raises(EntryError, match=message):
        validate_entries(entries)


def test_profile_name_must_stay_valid_with_the_prefix():
    with pytest.raises(EntryError, match="profile name"):
        validate_entries([{"name": "w" * 120, "image": "x"}], prefix="p" * 90)
    with pytest.raises(EntryError, match="reserved"):
        validate_entries([{"name": "default", "image": "x"}], prefix="docker-")


def test_every_problem_is_reported_at_once():
    with pytest.raises(EntryError) as raised:
        validate_entries([{"name": "../a"}, {"name": "b/c"}])
    assert "confine_containers[0]" in str(raised.value) and "confine_containers[1]" in str(raised.value)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ({}, ["AUDIT_WRITE"]),
        ({"cap_drop": ["NET_RAW"]}, ["NET_RAW", "AUDIT_WRITE"]),
        ({"capabilities": ["AUDIT_WRITE"]}, []),
        ({"capabilities": ["cap_audit_write"]}, []),
        ({"cap_drop": ["ALL"]}, ["ALL"]),
        ({"cap_drop": ["CAP_AUDIT_WRITE"]}, ["CAP_AUDIT_WRITE"]),
        (None, ["AUDIT_WRITE"]),
    ],
)
def test_cap_drop_adds_audit_write_unless_kept(run, expected):
    from ansible_collections.confine.docker.plugins.module_utils._entries import cap_drop

    assert cap_drop({"name": "web", "run": run}) == expected


# --- the entry schema, declared once (module_utils/_entries.py) ----------------------------------------------------

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")


def role_entry_spec(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]["confine_containers"]


def without_description(spec):
    return {key: value for key, value in spec.items() if key != "description"}


@pytest.mark.parametrize("role", _entries.ENTRY_ROLES)
def test_every_roles_argument_spec_carries_the_declared_entry_schema(role):
    assert without_description(role_entry_spec(role)) == without_description(_entries.entries_argument_spec())


def test_the_roles_argument_specs_are_as_the_generator_writes_them():
    script = os.path.join(ROOT, "scripts", "entry_specs.py")
    proc = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_that_reads_container_entries_is_covered():
    roles = []
    for name in os.listdir(os.path.join(ROOT, "roles")):
        spec = yaml.safe_load(open_text(os.path.join(ROOT, "roles", name, "meta", "argument_specs.yml")))
        if "confine_containers" in spec["argument_specs"]["main"]["options"]:
            roles.append(name)
    assert sorted(roles) == sorted(_entries.ENTRY_ROLES)


def open_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_the_container_role_passes_on_exactly_the_declared_run_options():
    with open(os.path.join(ROOT, "roles", "container", "tasks", "main.yml"), encoding="utf-8") as handle:
        task = yaml.safe_load(handle)[0]["community.docker.docker_container"]
    passed = {name for name, value in task.items() if "container_item.run." in str(value)}
    # cap_drop goes through the cap_drop filter, which reads run.cap_drop (and run.capabilities).
    passed.add("cap_drop")
    assert passed == set(_entries.RUN_OPTIONS)
    for name in passed - {"cap_drop"}:
        assert "container_item.run.%s " % name in task[name], name


def inventory_table():
    """The rows of docs/inventory.md's entry table: key -> (type, required, meaning)."""
    with open(os.path.join(ROOT, "docs", "inventory.md"), encoding="utf-8") as handle:
        lines = handle.read().split("| key | type | required | meaning |", 1)[1].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith("| `"):
            break
        key, kind, required, meaning = (cell.strip() for cell in line.strip("|").split(" | ", 3))
        rows[key.strip("`")] = (kind, required, meaning)
    return rows


def test_docs_inventory_describes_the_declared_schema():
    rows = inventory_table()
    assert list(rows) == list(_entries.ENTRY_OPTIONS)
    for key, option in _entries.ENTRY_OPTIONS.items():
        kind, required, meaning = rows[key]
        assert kind == option["type"], key
        assert required == ("yes" if option.get("required") else "no"), key
        named = set(re.findall(r"`([a-z_]+)`", meaning))
        missing = set(option.get("options", {})) - named
        assert not missing, "docs/inventory.md does not name %s of %s" % (sorted(missing), key)


SCHEMA_ERRORS = [
    ({"run": {"command": ["true"], "colour": "red"}}, "confine_containers.run.colour"),
    ({"run": {"restart_policy": "sometimes"}}, "value of restart_policy must be one of"),
    ({"run": {"privileged": "maybe"}}, "privileged"),
    ({"colour": "red"}, "confine_containers.colour"),
    ({"apparmor": {"spec": {}, "content": "profile x {}"}}, "mutually exclusive: spec|src|content"),
    ({"seccomp": {"deny": ["mount"], "base_profile": "x"}}, "confine_containers.seccomp.base_profile"),
    ({"workload": {"min_observe": "soon"}}, "min_observe"),
    ({"workload": {"command": ["true"]}}, "confine_containers.workload.command"),
    ({"health": {"url": "http://a/", "command": ["true"]}}, "mutually exclusive: command|url"),
    ({"approve": {"seccomp": ["mount"], "selinux": ["x"]}}, "confine_containers.approve.selinux"),
]


@pytest.mark.parametrize("extra, message", SCHEMA_ERRORS)
def test_the_schema_refuses_unknown_keys_types_and_choices_everywhere(extra, message):
    entries = [dict({"name": "web", "image": "nginx"}, **extra)]
    with pytest.raises(EntryError, match=re.escape(message)):
        _entries.check_entries(entries)


def test_the_schema_takes_every_documented_key():
    entry = {"name": "web", "image": "nginx",
             "run": {"command": "nginx -g 'daemon off;'", "entrypoint": ["/bin/sh", "-c"], "env": {"A": "1"},
                     "published_ports": ["127.0.0.1:8080:80"], "volumes": ["/srv:/srv:ro"],
                     "capabilities": ["net_bind_service"], "cap_drop": ["ALL"], "privileged": False,
                     "read_only": True, "restart_policy": "no", "user": "101:101", "working_dir": "/srv",
                     "networks": [{"name": "front"}], "network_mode": "bridge", "tmpfs": ["/run"]},
             "apparmor": {"spec": {"filesystem": {"read_only_paths": ["/etc/**"]}}},
             "seccomp": {"base": "docker_default", "allow": ["mkdir"], "deny": ["mount"], "drop_groups": ["debug"]},
             "workload": {"commands": [["true"], "echo hi"], "probes": ["http://127.0.0.1:8080/"], "min_observe": 3},
             "health": {"url": "http://127.0.0.1:8080/", "status": [200, 204]},
             "approve": {"apparmor": ["capability sys_admin"], "seccomp": ["ptrace"]}}
    assert _entries.schema_problems([entry]) == []
    assert _entries.check_entries([entry]) == ["web"]
    # Every call gets a new copy of the declaration: the validator may change the one it is given.
    assert _entries.entries_argument_spec() is not _entries.entries_argument_spec()
    assert _entries.entries_argument_spec()["options"]["run"]["options"] is not _entries.RUN_OPTIONS


def test_entries_that_lack_an_option_do_not_inherit_another_entrys():
    # Ansible's validator fills a shared default dict in place; the schema declares none, so the second and third
    # entries are judged on what they hold.
    entries = [{"name": "a", "image": "x", "apparmor": {"spec": {}}, "health": {"url": "http://a/"},
                "run": {"restart_policy": "always"}},
               {"name": "b", "image": "x"},
               {"name": "c", "image": "x", "apparmor": {"content": "profile c {}"}, "health": {"command": ["true"]}}]
    assert _entries.schema_problems(entries) == []
    for role in _entries.ENTRY_ROLES:
        validator = ArgumentSpecValidator({"confine_containers": role_entry_spec(role)})
        assert validator.validate({"confine_containers": entries}).error_messages == [], role
