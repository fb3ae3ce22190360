"""Every stage role takes the same container entry: an entry one stage accepts is never refused by another one's
argument spec inside the same ``harden.yml`` run."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
STAGES = ("complain", "collect", "widen", "enforce", "verify", "rollback")


def entry_options(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    return options["confine_containers"]["options"]


def test_the_stage_roles_are_all_there():
    found = {os.path.basename(os.path.dirname(os.path.dirname(path)))
             for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))}
    assert set(STAGES) <= found


@pytest.mark.parametrize("role", STAGES)
def test_each_stage_takes_the_keys_of_a_container_entry(role):
    keys = set(entry_options(role))
    assert keys == set(entry_options("complain")), (role, sorted(keys ^ set(entry_options("complain"))))
    assert {"name", "image", "run", "apparmor", "seccomp", "workload", "health", "approve"} <= keys
