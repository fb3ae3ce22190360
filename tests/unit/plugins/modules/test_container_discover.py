"""Whole-module tests for confine.docker.container_discover against a fake docker CLI: a container removed between
``docker ps`` and ``docker inspect`` is left out, not a failure; a daemon that does not answer is."""

from __future__ import annotations

import copy
import functools
import json
import os

from _harness import run_module
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.modules import container_discover

run = functools.partial(run_module, container_discover.main)
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "adopt")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def fake(monkeypatch, answers):
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: "/bin/docker")
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, argv, **kw: answers[argv[1]](argv))


def test_a_container_gone_since_ps_is_left_out_and_the_others_reported(monkeypatch):
    web = copy.deepcopy(load("minimal"))
    web["Name"], web["State"]["Running"] = "/web", True
    fake(monkeypatch, {
        "ps": lambda argv: (0, "%s web\n%s gone\n" % (web["Id"], "f" * 64), ""),
        "container": lambda argv: (1, json.dumps([web]), "Error: No such container: %s" % ("f" * 64)),
        "image": lambda argv: (0, json.dumps([load("image-base")]), ""),
    })
    result = run({"host": "db1"})
    assert not result["failed"] and [item["name"] for item in result["containers"]] == ["web"]
    assert result["entries"] == [{"name": "web", "adopt": True}] and "found on db1" in result["inventory"]


def test_a_daemon_that_does_not_answer_fails_the_task(monkeypatch):
    fake(monkeypatch, {"ps": lambda argv: (1, "", "Cannot connect to the Docker daemon")})
    result = run({})
    assert result["failed"] and "docker ps failed: Cannot connect" in result["msg"]
