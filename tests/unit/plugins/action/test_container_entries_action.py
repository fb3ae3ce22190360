"""confine.docker.container_entries on the controller: declared entries never touch the host; adopted ones are read
there through container_adopt and come back completed into declared entries, checked like them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.action import container_entries

WEB = {"name": "web", "image": "nginx:bookworm", "run": {"published_ports": ["8080:80"]}}


class FakeTask:
    def __init__(self, args):
        self.args = args


def run_action(monkeypatch, args, adopted=None):
    calls = []

    def execute(module_name, module_args, task_vars):
        del task_vars
        calls.append((module_name, dict(module_args)))
        return adopted

    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    action = container_entries.ActionModule.__new__(container_entries.ActionModule)
    action._task = FakeTask(args)
    action._execute_module = execute
    return action.run(task_vars={}), calls


def test_declared_entries_are_checked_on_the_controller_alone(monkeypatch):
    result, calls = run_action(monkeypatch, {"containers": [WEB]})
    assert calls == [] and result["containers"] == [WEB] and result["names"] == ["web"] and not result["changed"]


def test_adopted_entries_are_read_on_the_host_and_completed_in_place(monkeypatch):
    entries = [WEB, {"name": "cache", "adopt": True, "workload": {"commands": [["redis-cli", "ping"]]}}]
    read = {"changed": True, "recorded": ["cache"], "diff": [{"before": "", "after": "{}"}],
            "entries": [{"name": "cache", "image": "redis:7", "run": {"command": ["redis-server"]}}]}
    result, calls = run_action(monkeypatch, {"containers": entries, "state_dir": "/srv/confine", "record": "no"}, read)
    assert calls == [("confine.docker.container_adopt", {"names": ["cache"], "state_dir": "/srv/confine",
                                                         "record": False})]
    assert result["containers"] == [WEB, {"name": "cache", "image": "redis:7", "run": {"command": ["redis-server"]},
                                          "workload": {"commands": [["redis-cli", "ping"]]}}]
    assert result["changed"] and result["recorded"] == ["cache"] and result["adopted"] == ["cache"]
    assert entries[1]["adopt"] is True  # the inventory's entry is not changed


def test_a_failed_adoption_fails_the_task_with_the_modules_message(monkeypatch):
    message = "cannot adopt: container 'cache' cannot be adopted as it is: it is privileged"
    with pytest.raises(AnsibleActionFail, match=message):
        run_action(monkeypatch, {"containers": [{"name": "cache", "adopt": True}]}, {"failed": True, "msg": message})


def test_an_adopted_configuration_the_installed_module_cannot_take_is_refused(monkeypatch):
    read = {"changed": False, "entries": [{"name": "cache", "image": "redis:7", "run": {"not_an_option": 1}}]}
    with pytest.raises(AnsibleActionFail, match=r"adopted configuration cannot be run.*run\.not_an_option"):
        run_action(monkeypatch, {"containers": [{"name": "cache", "adopt": True}]}, read)


def test_a_bad_entry_stops_before_the_host_is_asked(monkeypatch):
    with pytest.raises(AnsibleActionFail, match="drop image"):
        run_action(monkeypatch, {"containers": [{"name": "cache", "adopt": True, "image": "redis"}]}, {})


def test_sharers_asks_the_host_with_every_entry_in_order_even_without_adopted_ones(monkeypatch):
    db = {"name": "db", "image": "postgres"}
    result, calls = run_action(monkeypatch, {"containers": [WEB, db], "sharers": True, "record": False},
                               {"changed": False, "entries": []})
    assert calls == [("confine.docker.container_adopt", {"names": [], "state_dir": "/var/lib/confine",
                                                         "record": False, "order": ["web", "db"]})]
    assert result["containers"] == [WEB, db] and not result["changed"]
