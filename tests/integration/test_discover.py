"""Discovery against the host's dockerd: containers under docker-default, unconfined, a custom seccomp profile,
privileged and managed by compose are each named in their class, and the starting inventory adopts the ones that
can be adopted and says why for the others; the file is a valid inventory for harden.yml's entry check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import DOCKER, ROOT, ansible_playbook

from ansible_collections.confine.docker.plugins.module_utils import _entries

IMAGE = "confine-lab/base:bookworm"
PREFIX = "rbtest-discover-"
PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
CONTAINERS = {
    "plain": ([], True),
    "noseccomp": (["--security-opt", "seccomp=unconfined"], True),
    "custom": (["--security-opt", "seccomp={profile}"], True),
    # --privileged cannot start on this host (its bounding set lacks CAP_SYS_RESOURCE): created only.
    "privileged": (["--privileged"], False),
    "composed": (["--label", "com.docker.compose.project=shop", "--label", "com.docker.compose.service=web",
                  "--label", "com.docker.compose.project.working_dir=/srv/shop",
                  "--label", "com.docker.compose.project.config_files=/srv/shop/compose.yml"], True),
    "stopped": ([], False),
}


def docker(*args, check=True):
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check)


@pytest.fixture()
def containers(docker_cli, tmp_path):
    names = [PREFIX + name for name in CONTAINERS]
    docker("rm", "-f", *names, check=False)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE), encoding="utf-8")
    for name, (options, start) in CONTAINERS.items():
        options = [option.format(profile=profile) for option in options]
        docker("run" if start else "create", *(["-d"] if start else []), "--name", PREFIX + name, *options, IMAGE,
               "sleep", "infinity")
    yield names
    docker("rm", "-f", *names, check=False)


def test_discovery_classifies_each_container_and_writes_a_starting_inventory(containers, tmp_path):
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps({"ansible_python_interpreter": sys.executable, "confine_discover_all": True,
                                   "confine_discover_dir": str(tmp_path / "found")}), encoding="utf-8")
    proc = ansible_playbook("-i", "lab-host,", "-c", "local", "-e", "@%s" % varfile,
                            os.path.join(ROOT, "playbooks", "discover.yml"), check=False)
    assert proc.returncode == 0, proc.stdout
    text = (tmp_path / "found" / "lab-host.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    ours = {entry["name"]: entry for entry in data["confine_containers"] if entry["name"].startswith(PREFIX)}
    assert sorted(ours) == sorted(PREFIX + name for name in ("plain", "noseccomp", "custom", "stopped", "composed"))
    assert all(entry == {"name": name, "adopt": True} for name, entry in ours.items() if "composed" not in name)
    # The compose service's container is confined through its project.
    assert ours[PREFIX + "composed"]["compose"] == {"project_src": "/srv/shop", "service": "web",
                                                    "files": ["compose.yml"], "project_name": "shop"}
    assert _entries.check_entries(data["confine_containers"])  # a valid inventory as written
    lines = [line for line in text.splitlines() if line.startswith("# Not adopted: %sprivileged " % PREFIX)]
    assert "(privileged): it is privileged" in lines[0], text
    # Each class, as the summary task shows it.
    shown = proc.stdout
    for name, kind in (("plain", "docker-default"), ("noseccomp", "unconfined"), ("custom", "custom"),
                       ("privileged", "privileged"), ("composed", "docker-default")):
        assert '"%s%s": "%s"' % (PREFIX, name, kind) in shown, (name, kind, shown)
    # Nothing on the host changed.
    for name in containers:
        assert docker("inspect", name).returncode == 0
