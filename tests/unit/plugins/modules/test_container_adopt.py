"""Whole-module tests for confine.docker.container_adopt against a fake docker CLI: the first run reads the
container and keeps its record atomically, later runs use the record, check mode and record=false write nothing,
and a container that cannot be adopted fails the task with nothing written."""

from __future__ import annotations

import copy
import functools
import json
import os

import pytest
from _harness import run_module
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils import _adopt, _io
from ansible_collections.confine.docker.plugins.modules import container_adopt

run = functools.partial(run_module, container_adopt.main)
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "adopt")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


MINIMAL, IMAGE = load("minimal"), load("image-base")
NAME = MINIMAL["Name"].lstrip("/")


@pytest.fixture
def docker(monkeypatch):
    host = {"containers": {NAME: copy.deepcopy(MINIMAL)}, "images": {MINIMAL["Image"]: IMAGE}, "calls": []}

    def run_command(self, argv, **_kwargs):
        host["calls"].append(argv[1:])
        if argv[1] == "ps":
            return 0, "".join("%s %s\n" % (c["Id"], n) for n, c in host["containers"].items()), ""
        table = host["containers"] if argv[1] == "container" else host["images"]
        if argv[-1] not in table:
            return 1, "", "Error: No such object: %s" % argv[-1]
        return 0, json.dumps([table[argv[-1]]]), ""

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: "/bin/docker")
    return host


def test_the_first_run_keeps_the_record_and_the_second_uses_it_unchanged(docker, tmp_path):
    first = run({"names": [NAME], "state_dir": str(tmp_path)}, diff=True)
    path = tmp_path / NAME / "adopted.json"
    assert not first["failed"] and first["changed"] and first["recorded"] == [NAME]
    assert first["entries"] == [_adopt.entry(MINIMAL, IMAGE)]
    assert json.loads(path.read_text()) == _adopt.record(MINIMAL, IMAGE)
    assert oct(path.stat().st_mode & 0o777) == "0o640" and first["diff"][0]["after"] == path.read_text()
    assert sorted(os.listdir(tmp_path / NAME)) == ["adopted.json"]
    # The container now runs under the runbook's options: the record, not the container, is what is recreated.
    docker["containers"][NAME]["HostConfig"]["CapDrop"] = ["AUDIT_WRITE"]
    docker["calls"].clear()
    second = run({"names": [NAME], "state_dir": str(tmp_path)})
    assert not second["changed"] and second["recorded"] == [] and second["entries"] == first["entries"]
    assert docker["calls"] == []


@pytest.mark.parametrize("args, check_mode", [({"record": False}, False), ({}, True)])
def test_record_false_and_check_mode_read_but_write_nothing(docker, tmp_path, args, check_mode):
    result = run(dict(args, names=[NAME], state_dir=str(tmp_path)), check_mode=check_mode)
    assert not result["failed"] and result["entries"] == [_adopt.entry(MINIMAL, IMAGE)]
    assert result["changed"] is check_mode and result["recorded"] == ([NAME] if check_mode else [])
    assert os.listdir(tmp_path) == []


def test_a_container_that_cannot_be_adopted_fails_every_name_and_writes_nothing(docker, tmp_path):
    privileged = copy.deepcopy(MINIMAL)
    privileged["HostConfig"]["Privileged"] = True
    privileged["Name"] = "/priv"
    docker["containers"]["priv"] = privileged
    result = run({"names": [NAME, "priv", "gone"], "state_dir": str(tmp_path)})
    assert result["failed"] and "privileged" in result["msg"] and "'gone'" in result["msg"]
    assert len(result["problems"]) == 2 and os.listdir(tmp_path) == []


def test_a_record_that_cannot_be_written_fails_naming_it(docker, tmp_path, monkeypatch):
    def full_disk(path, data, **_kwargs):
        raise _io.WriteError("cannot write %s: No space left on device" % path, path=path, errno=28)

    monkeypatch.setattr(container_adopt, "atomic_write", full_disk)
    result = run({"names": [NAME], "state_dir": str(tmp_path)})
    assert result["failed"] and result["recorded"] == [] and not result["changed"]
    assert "cannot keep the adoption record of %s" % NAME in result["msg"] and "No space left" in result["msg"]
