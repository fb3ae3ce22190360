"""The daemon role's interface: one name and one default for daemon.json's path, entry points and variables that
other roles and playbooks use only as documented, and no reading of the role's own registered results or facts."""

from __future__ import annotations

import glob
import os
import re

import jinja2
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = os.path.join(ROOT, "roles")


def load(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def role_defaults(role):
    path = os.path.join(ROLES, role, "defaults", "main.yml")
    return load(path) if os.path.exists(path) else {}


def entry_points(role):
    path = os.path.join(ROLES, role, "meta", "argument_specs.yml")
    return load(path)["argument_specs"] if os.path.exists(path) else {}


def render(value, **inventory):
    """A role default as Ansible would template it (the defaults use only Jinja's own filters)."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    return yaml.safe_load(jinja2.Environment().from_string(value).render(**inventory))


def task_files():
    patterns = ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "playbooks/*.yml", "playbooks/tasks/*.yml")
    return sorted(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, pattern)))


def tasks_in(node):
    if isinstance(node, list):
        for item in node:
            yield from tasks_in(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            yield from tasks_in(value)


def role_includes():
    """(file, role, entry point, names of the task's vars) of every include_role/import_role of this collection."""
    found = []
    for path in task_files():
        for task in tasks_in(load(path)):
            for action in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role",
                           "import_role"):
                spec = task.get(action)
                if isinstance(spec, dict) and str(spec.get("name", "")).startswith("confine.docker."):
                    entry = os.path.splitext(spec.get("tasks_from", "main"))[0]
                    found.append((os.path.relpath(path, ROOT), spec["name"].split(".")[-1], entry,
                                  sorted(task.get("vars") or {})))
    return found


def test_the_daemon_config_path_defaults_from_the_shared_setting():
    default = role_defaults("daemon")["daemon_config_path"]
    assert render(default) == "/etc/docker/daemon.json"
    assert render(default, confine_daemon_config_path="/srv/docker/daemon.json") == "/srv/docker/daemon.json"


def test_only_the_daemon_role_names_the_daemon_config_path():
    """The stage that writes daemon.json and the rollback that restores it use one variable: a second name with a
    default of its own is how they came to disagree."""
    named = sorted(
        (role, name)
        for role in sorted(os.listdir(ROLES))
        for name, value in role_defaults(role).items()
        if "daemon.json" in str(value) or "confine_daemon_config_path" in str(value)
    )
    assert named == [("daemon", "daemon_config_path")]


def test_the_state_dir_defaults_like_the_other_stages():
    default = role_defaults("daemon")["daemon_state_dir"]
    assert render(default) == render(role_defaults("rollback")["rollback_state_dir"]) == "/var/lib/confine"
    assert render(default, confine_state_dir="/srv/confine") == "/srv/confine"


@pytest.mark.parametrize("entry", ["main", "restore"])
def test_the_argument_specs_give_the_role_defaults(entry):
    options = entry_points("daemon")[entry]["options"]
    assert {"daemon_config_path", "daemon_state_dir"} <= set(options)
    defaults = role_defaults("daemon")
    for name, option in options.items():
        assert name in defaults, (entry, name)
        assert render(defaults[name]) == option.get("default"), (entry, name)


def shared_settings():
    """The `confine_*` settings every stage takes from the inventory (docs/inventory.md)."""
    with open(os.path.join(ROOT, "docs", "inventory.md"), encoding="utf-8") as handle:
        return set(re.findall(r"^\| `(confine_[a-z_]+)` \|", handle.read(), re.MULTILINE))


@pytest.mark.parametrize("include", role_includes(), ids=lambda include: "%s->%s:%s" % include[:3])
def test_roles_are_included_only_through_their_documented_entry_points_and_variables(include):
    path, role, entry, names = include
    specs = entry_points(role)
    assert entry in specs, "%s includes %s's tasks_from %s, which is not an entry point" % (path, role, entry)
    undocumented = sorted(set(names) - set(specs[entry].get("options", {})) - shared_settings())
    assert not undocumented, "%s passes %s variables its %s entry point does not take: %s" % (
        path, role, entry, undocumented)


def daemon_results():
    """What the daemon role's tasks register or set as facts."""
    names = set()
    for path in glob.glob(os.path.join(ROLES, "daemon", "tasks", "*.yml")):
        for task in tasks_in(load(path)):
            if isinstance(task.get("register"), str):
                names.add(task["register"])
            facts = task.get("ansible.builtin.set_fact")
            if isinstance(facts, dict):
                names.update(facts)
    return names


def test_the_daemon_role_keeps_its_results_to_itself():
    names = daemon_results()
    assert {"daemon_plan", "daemon_write", "daemon_info"} <= names
    readers = []
    for path in task_files():
        if os.path.relpath(path, ROLES).startswith("daemon" + os.sep):
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        readers += ["%s: %s" % (os.path.relpath(path, ROOT), name) for name in sorted(names)
                    if re.search(r"\b%s\b" % re.escape(name), text)]
    assert not readers


@pytest.mark.parametrize("role", ["daemon", "rollback"])
def test_task_files_are_short(role):
    for path in glob.glob(os.path.join(ROLES, role, "tasks", "*.yml")):
        with open(path, encoding="utf-8") as handle:
            assert len(handle.readlines()) < 60, path
