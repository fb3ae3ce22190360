"""No role reads what another one registered or set, except the outputs that role declares in its argument spec
(an ``Outputs`` item of its description naming them as ``C(name)``); the trial's rounds read whether a round added
rules from the containers' state, not from a fact of the widen role. Every task file of a stage stays short."""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, "roles", "*")))
PLAYBOOK_TASKS = sorted(glob.glob(os.path.join(ROOT, "playbooks", "tasks", "*.yml")))


def task_files(role):
    return sorted(glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml")))


def tasks_of(path):
    """Every task of a task file, those inside blocks included."""
    with open(path, encoding="utf-8") as handle:
        pending = list(yaml.safe_load(handle) or [])
    while pending:
        task = pending.pop(0)
        yield task
        for key in ("block", "rescue", "always"):
            pending.extend(task.get(key) or [])


def variables_set_by(role):
    """The variables a role's tasks register or set with set_fact."""
    names = set()
    for path in task_files(role):
        for task in tasks_of(path):
            if task.get("register"):
                names.add(task["register"])
            facts = task.get("ansible.builtin.set_fact") or task.get("set_fact") or {}
            names.update(key for key in facts if key != "cacheable")
    return names


def declared_outputs(role):
    path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as handle:
        description = yaml.safe_load(handle)["argument_specs"]["main"].get("description") or []
    items = [description] if isinstance(description, str) else description
    return {name for item in items if item.startswith("Outputs") for name in re.findall(r"C\((\w+)\)", item)}


def reads(path, name):
    """Whether the file uses the variable (a key of that name, a variable given to an included role, is no use)."""
    with open(path, encoding="utf-8") as handle:
        return re.search(r"(?<![\w.])%s(?!\w|\s*:)" % re.escape(name), handle.read()) is not None


def test_the_container_role_declares_what_its_callers_read():
    assert declared_outputs("container") == {"container_changed", "container_restart_count"}
    assert declared_outputs("container") <= variables_set_by("container")


@pytest.mark.parametrize("role", ROLES)
def test_no_other_role_or_round_reads_what_a_role_did_not_declare(role):
    private = variables_set_by(role) - declared_outputs(role)
    readers = [path for other in ROLES if other != role for path in task_files(other)] + PLAYBOOK_TASKS
    found = sorted((os.path.relpath(path, ROOT), name) for path in readers for name in private if reads(path, name))
    assert found == [], "read outside role %s: %s" % (role, found)


@pytest.mark.parametrize("role", ["complain", "collect", "widen", "enforce", "verify", "rollback", "container"])
def test_stage_task_files_stay_short(role):
    for path in task_files(role):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().count("\n")
        assert lines < 60, "%s has %d lines" % (os.path.relpath(path, ROOT), lines)
