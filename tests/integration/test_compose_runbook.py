"""The runbook on a compose service (``compose: {project_src, service, files}``) against the host's dockerd, with
compose v2 (Debian 13's ``docker-compose`` plugin: the host's own when it has one, else the one of the Debian 13 lab
root the VM build keeps): the service is hardened through the runbook's override without its files being touched,
``docker compose up`` with the override keeps the confinement and without it drops it (verify says so), a re-run
changes nothing, and a rollback to the baseline brings the project up as its files declare it."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
import tarfile

import pytest
from conftest import DOCKER, ansible_env
from test_runbook import _inspect, _play, _recap, _seccomp_mode, _state

IMAGE = "confine-lab/base:bookworm"
NAME = "rbtest-compose-web"
PROJECT = "rbtestcompose"
COMPOSE = """services:
  web:
    image: confine-lab/base:bookworm
    command: ["python3", "-m", "http.server", "18093"]
    ports: ["127.0.0.1:18093:18093"]
    environment:
      SITE: compose
    labels:
      tier: front
"""
ROOTFS = "/var/cache/confine-lab/rootfs/trixie/vm-*.tar"
PLUGIN = "./usr/libexec/docker/cli-plugins/docker-compose"


def compose_config(tmp_path_factory):
    """A DOCKER_CONFIG directory whose cli-plugins hold compose v2, or None when the host has it already."""
    if subprocess.run([DOCKER, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return None
    for tarball in sorted(glob.glob(ROOTFS)):
        with tarfile.open(tarball) as archive:
            try:
                member = archive.getmember(PLUGIN)
            except KeyError:
                continue
            directory = tmp_path_factory.mktemp("docker-config")
            os.makedirs(directory / "cli-plugins")
            with archive.extractfile(member) as source, open(directory / "cli-plugins" / "docker-compose", "wb") as out:
                out.write(source.read())
            os.chmod(directory / "cli-plugins" / "docker-compose", 0o755)
            return str(directory)
    pytest.fail("no compose v2: neither the host's docker nor a Debian 13 lab root (make vm) has it")


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory, docker_cli):
    config = compose_config(tmp_path_factory)
    return dict(ansible_env(), **({"DOCKER_CONFIG": config} if config else {}))


def compose(env, project, *args, check=True):
    return subprocess.run([DOCKER, "compose", "-p", PROJECT, *args], cwd=project, env=env, capture_output=True,
                          text=True, check=check)


def tree(path):
    """name -> sha256 of each file in ``path``."""
    digests = {}
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as handle:
            digests[name] = hashlib.sha256(handle.read()).hexdigest()
    return digests


@pytest.fixture()
def project(tmp_path, compose_env):
    path = tmp_path / "project"
    path.mkdir()
    (path / "compose.yml").write_text(COMPOSE, encoding="utf-8")
    compose(compose_env, path, "-f", "compose.yml", "up", "-d")
    yield str(path)
    compose(compose_env, path, "-f", "compose.yml", "down", "--timeout", "1", check=False)
    subprocess.run([DOCKER, "rm", "-f", NAME], capture_output=True, check=False)


def test_a_compose_service_is_hardened_through_the_override_and_rolled_back_through_the_project(
        project, compose_env, tmp_path, auditd):
    workdir = str(tmp_path / "work")
    os.makedirs(workdir)
    entries = [{"name": NAME, "compose": {"project_src": project, "service": "web", "files": ["compose.yml"],
                                          "project_name": PROJECT},
                "workload": {"probes": ["http://127.0.0.1:18093/"]}, "health": {"command": ["true"]}}]
    extra = {"confine_event_source": "audit"}
    original = tree(project)
    proc = _play(workdir, "harden", entries, extra, env=compose_env)
    assert proc.returncode == 0, proc.stdout
    assert _state(workdir, NAME)["mode"] == "enforce"
    # The project's own file is as it was; the runbook's override and seccomp profile are beside it.
    after = tree(project)
    assert after["compose.yml"] == original["compose.yml"]
    assert sorted(after) == ["compose.confine.web.seccomp.json", "compose.confine.yml", "compose.yml"]
    info = _inspect(NAME)
    assert info["Config"]["Labels"]["com.docker.compose.service"] == "web"
    assert info["Config"]["Labels"]["tier"] == "front" and "SITE=compose" in info["Config"]["Env"]
    seccomp = [opt for opt in info["HostConfig"]["SecurityOpt"] if opt.startswith("seccomp=")]
    assert json.loads(seccomp[0][len("seccomp="):])["defaultAction"] == "SCMP_ACT_ERRNO"
    assert _seccomp_mode(info["State"]["Pid"]) == "2" and "AUDIT_WRITE" in info["HostConfig"]["CapDrop"]
    again = _play(workdir, "harden", entries, extra, env=compose_env)
    assert again.returncode == 0 and _recap(again)["changed"] == "0", again.stdout
    # The user brings the project up again with the override: nothing changes.
    compose(compose_env, project, "-f", "compose.yml", "-f", "compose.confine.yml", "up", "-d")
    assert _inspect(NAME)["Id"] == info["Id"]
    # Without it, compose recreates the container as the project declares it, and verify says it is gone.
    compose(compose_env, project, "-f", "compose.yml", "up", "-d")
    assert subprocess.run([DOCKER, "inspect", NAME], capture_output=True, check=False).returncode != 0
    proc = _play(workdir, "verify", entries, env=compose_env)
    assert proc.returncode != 0 and "%s: exists" % NAME in proc.stdout, proc.stdout
    compose(compose_env, project, "-f", "compose.yml", "-f", "compose.confine.yml", "up", "-d")
    # Rollback to the baseline: the project as its files declare it, the override gone.
    back = _play(workdir, "rollback", entries, {"confine_rollback_target": "baseline"}, env=compose_env)
    assert back.returncode == 0, back.stdout
    assert sorted(os.listdir(project)) == ["compose.yml"]
    running = json.loads(compose(compose_env, project, "-f", "compose.yml", "ps", "--format", "json").stdout
                         .splitlines()[0])
    assert running["Service"] == "web" and running["Name"] != NAME
    assert not any(opt.startswith("seccomp=") for opt in _inspect(running["Name"])["HostConfig"]["SecurityOpt"] or ())
