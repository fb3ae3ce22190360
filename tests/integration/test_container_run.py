"""The container role passes an entry's ``run`` to community.docker.docker_container unchanged and merges the
entry's own security options with the stage's, on the host's dockerd (container ``adopthelper-run``, removed
afterwards)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import pytest
import yaml
from conftest import VENV_BIN, ansible_playbook

NAME = "adopthelper-run"
RUN = {
    "command": ["sleep", "infinity"], "env": {"A": "1"}, "labels": {"tier": "front"}, "memory": "64m",
    "pids_limit": 50, "ulimits": ["nofile:1024:2048"], "init": True, "stop_signal": "SIGQUIT",
    "mounts": [{"target": "/scratch", "type": "tmpfs", "tmpfs_size": "1m"}],
    "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "retries": 2},
    "security_opts": ["label=disable"], "cap_drop": ["NET_RAW"], "comparisons": {"labels": "strict"},
}


def docker(*args, check=True):
    proc = subprocess.run(["/usr/bin/docker", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 or not check, proc.stderr
    return proc


@pytest.fixture()
def playbook(docker_cli):
    docker("rm", "-f", NAME, check=False)
    workdir = tempfile.mkdtemp(prefix="confine-it-run-")
    path = os.path.join(workdir, "play.yml")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "entries", "confine.docker.container_entries": {"containers": [
            {"name": NAME, "image": "confine-lab/base:bookworm", "run": RUN}]}},
        {"name": "run", "ansible.builtin.include_role": {"name": "confine.docker.container"},
         "vars": {"container_item": {"name": NAME, "image": "confine-lab/base:bookworm", "run": RUN},
                  "container_security_opts": ["no-new-privileges"]}},
        {"name": "show", "ansible.builtin.debug": {"msg": "container_changed={{ container_changed }}"}},
    ]}]
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle)
    try:
        yield path
    finally:
        docker("rm", "-f", NAME, check=False)


def run(path):
    proc = ansible_playbook("-i", "localhost,", "-c", "local", "-e",
                            "ansible_python_interpreter=%s" % os.path.join(VENV_BIN, "python"), path)
    return "container_changed=True" in proc.stdout


def test_run_is_passed_through_and_the_security_options_are_merged(playbook):
    assert run(playbook) is True
    data = json.loads(docker("inspect", NAME).stdout)[0]
    config, host = data["Config"], data["HostConfig"]
    assert "A=1" in config["Env"] and config["Labels"]["tier"] == "front" and config["StopSignal"] == "SIGQUIT"
    assert config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30 * 10**9, "Retries": 2}
    assert host["Memory"] == 64 * 2**20 and host["PidsLimit"] == 50 and host["Init"] is True
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["Mounts"] == [{"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 2**20}}]
    assert sorted(host["SecurityOpt"]) == ["label=disable", "no-new-privileges"]
    assert sorted(cap.removeprefix("CAP_") for cap in host["CapDrop"]) == ["AUDIT_WRITE", "NET_RAW"]
    # The same entry again changes nothing.
    assert run(playbook) is False
