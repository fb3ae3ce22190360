"""Whole-module tests for confine.docker.container_entries run on a target (the action plugin runs the same checks on
the controller): the declared entry schema and the names."""

from __future__ import annotations

import functools
import os

import pytest
from _harness import run_module

from ansible_collections.confine.docker.plugins.modules import container_entries

run = functools.partial(run_module, container_entries.main)

WEB = {"name": "web", "image": "nginx:bookworm"}


def test_valid_entries_give_their_names_and_change_nothing():
    result = run({"containers": [dict(WEB, approve={"seccomp": ["ptrace"]}, run={"tmpfs": ["/run"]}),
                                 {"name": "db", "image": "postgres"}]})
    assert not result["failed"] and not result["changed"] and result["names"] == ["web", "db"]


@pytest.mark.parametrize("entry, message", [
    (dict(WEB, run={"colour": "red"}), "confine_containers[0] (web): run.colour is not a parameter of "
                                       "community.docker.docker_container"),
    (dict(WEB, run={"healthcheck": {"test": ["CMD", "true"], "retries": "often"}}), "retries"),
    (dict(WEB, run={"security_opts": ["seccomp=unconfined"]}),
     "run.security_opts 'seccomp=unconfined' is the runbook's"),
    (dict(WEB, run={"state": "absent"}), "run.state is the runbook's"),
    (dict(WEB, run={"read_only": "sometimes"}), "read_only"),
    ({"name": "web"}, "image is required (or adopt: true"),
    (dict(WEB, name="../escape"), "not a container name"),
])
def test_bad_entries_fail_naming_the_problem(entry, message):
    result = run({"containers": [entry]})
    assert result["failed"] and message in result["msg"], result["msg"]


def test_every_problem_is_named_at_once():
    result = run({"containers": [dict(WEB, run={"colour": "red"}), dict(WEB, health={"curl": "x"})]})
    assert result["failed"]
    assert "run.colour" in result["msg"] and "health.curl" in result["msg"] and "named more than once" in result["msg"]


def test_on_a_target_an_adopted_entry_is_completed_from_its_record_without_writing(tmp_path, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.confine.docker.plugins.module_utils import _adopt

    (tmp_path / "cache").mkdir()
    record = {"schema": 1, "entry": {"name": "cache", "image": "redis:7", "run": {"command": ["redis-server"]}}}
    (tmp_path / "cache" / "adopted.json").write_text(_adopt.dumps(record), encoding="utf-8")
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: "/bin/docker")
    monkeypatch.setattr(AnsibleModule, "run_command",
                        lambda self, argv, **kw: (0, "", "") if argv[1] == "ps" else (1, "", "No such container"))
    result = run({"containers": [WEB, {"name": "cache", "adopt": True}, {"name": "gone", "adopt": True}],
                  "state_dir": str(tmp_path)})
    assert result["failed"] and "'gone'" in result["msg"] and "no such container" in result["msg"]
    result = run({"containers": [WEB, {"name": "cache", "adopt": True}], "state_dir": str(tmp_path)})
    assert not result["failed"] and not result["changed"] and result["adopted"] == ["cache"]
    assert result["containers"][1] == {"name": "cache", "image": "redis:7", "run": {"command": ["redis-server"]}}
    assert sorted(os.listdir(tmp_path)) == ["cache"] and os.listdir(tmp_path / "cache") == ["adopted.json"]
