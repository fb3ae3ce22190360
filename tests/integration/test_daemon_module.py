"""confine.docker.daemon_config run by ansible-playbook, and its refusals checked against a real (isolated) dockerd.

The refusals the module makes for Docker 20.10 are proved right by starting a private dockerd on the very file the
module refused (tests/integration/isolated_dockerd.py; the host's dockerd is never touched).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from conftest import engine_disagreements, key_cases
from conftest import run_module as _run_module
from isolated_dockerd import Handle

from ansible_collections.confine.docker.plugins.module_utils import _daemon

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = "/var/lib/confine-it-daemon-cfg"
RUN = "/run/confine-it-daemon-cfg"
MODULE = "confine.docker.daemon_config"
HARDENED = {"no-new-privileges": True, "live-restore": True, "icc": False, "userland-proxy": False, "log-level": "info"}


def run_module(module, args, **kwargs):
    return _run_module(module, args, extra_args=("-e", "ansible_python_interpreter=" + sys.executable), **kwargs)


def launcher(action):
    return Handle(BASE, RUN).launcher(action, check=False)


@pytest.fixture()
def workdir():
    path = tempfile.mkdtemp(prefix="confine-it-daemon-cfg-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def private_dockerd():
    """Start a private dockerd on a given daemon.json; returns (returncode, output). Purged afterwards."""
    launcher("purge")

    def start(config):
        os.makedirs(BASE, exist_ok=True)
        with open(os.path.join(BASE, "daemon.json"), "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        proc = launcher("start")
        return proc.returncode, proc.stdout + proc.stderr

    yield start
    launcher("purge")


def test_check_real_check_real(docker_cli, workdir):
    path = os.path.join(workdir, "daemon.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"labels": ["site=lab"], "log-opts": {"max-size": "10m"}}')
    args = {"path": path, "settings": HARDENED, "backup": True}

    first = run_module(MODULE, args, check_mode=True, diff=True)
    assert first["changed"] and not first.get("failed")
    assert first["validated_by"] == "module"  # Docker 20.10 has no dockerd --validate
    assert first["needs_restart"] is True and first["reload_keys"] == ["live-restore"]
    assert json.loads(first["diff"]["after"]) == first["config"]
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == '{"labels": ["site=lab"], "log-opts": {"max-size": "10m"}}'

    second = run_module(MODULE, args)
    assert second["changed"] and os.path.exists(second["backup_file"])
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == dict(HARDENED, labels=["site=lab"], **{"log-opts": {"max-size": "10m"}})

    third = run_module(MODULE, args, check_mode=True)
    assert third["changed"] is False
    fourth = run_module(MODULE, args)
    assert fourth["changed"] is False and "backup_file" not in fourth


def test_hardened_file_starts_dockerd(docker_cli, workdir, private_dockerd):
    path = os.path.join(BASE, "daemon.json")
    os.makedirs(BASE, exist_ok=True)
    result = run_module(MODULE, {"path": path, "settings": HARDENED})
    assert result["changed"]
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    returncode, output = private_dockerd(config)
    assert returncode == 0, output


@pytest.mark.parametrize(
    ("settings", "module_says", "dockerd_says"),
    [
        ({"icc": False, "iptables": False}, "'icc': false needs iptables", "--iptables=false with --icc=false"),
        ({"seccomp-profile": "unconfined"}, "needs Docker 23 or later", "open unconfined: no such file"),
        ({"log-opts": {"max-file": 3}}, "'log-opts' values must be strings", "cannot unmarshal number"),
        ({"runtimes": {"crun": {"path": 5}}}, "'runtimes.crun.path' must be a string", "cannot unmarshal number"),
        ({"runtimes": {"runc": {"path": "/usr/bin/runc"}}}, "'runc' is reserved", "runtime name 'runc' is reserved"),
        ({"features": {"buildkit": "yes"}}, "'features.buildkit' must be true or false", "cannot unmarshal string"),
        ({"default-address-pools": [{"base": "10.0.0.0/33", "size": 24}]}, "must be a CIDR", "CIDR"),
    ],
)
def test_refusals_match_what_dockerd_refuses(docker_cli, workdir, private_dockerd, settings, module_says, dockerd_says):
    path = os.path.join(workdir, "daemon.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"debug": false}\n')
    result = run_module(MODULE, {"path": path, "settings": settings})
    assert result["failed"] and module_says in result["msg"]
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == '{"debug": false}\n'

    # The same settings written by hand: the real dockerd does not start.
    returncode, output = private_dockerd(dict({"debug": False}, **settings))
    assert returncode != 0
    assert dockerd_says in output


def test_module_knows_which_keys_docker_20_10_takes(docker_cli):
    """The host's dockerd (Debian 12's 20.10.24) asked one file per key: exactly the keys the table says it lacks are
    unknown to it (the Debian 13 engine is asked in its lab VM, test_daemon_vm.py)."""
    keys, cases = key_cases()
    proc = subprocess.run([sys.executable, os.path.join(HERE, "probe", "dockerd_config.py")], input=json.dumps(cases),
                          capture_output=True, text=True, check=True, timeout=600)
    answer = json.loads(proc.stdout)
    version = _daemon.parse_dockerd_version(answer["version"])
    assert answer["validate"] is False and version[:2] == (20, 10), answer["version"]
    assert engine_disagreements(version, keys, answer["verdicts"]) == []
    unknown = sorted(key for key, verdict in zip(keys, answer["verdicts"]) if verdict["verdict"] == "unknown")
    assert unknown == ["cdi-spec-dirs", "log-format", "proxies"]


def test_symlinked_file_is_written_through_and_dockerd_starts_on_it(docker_cli, workdir, private_dockerd):
    target = os.path.join(workdir, "real.json")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write('{"debug": false}\n')
    link = os.path.join(workdir, "daemon.json")
    os.symlink(target, link)
    result = run_module(MODULE, {"path": link, "settings": HARDENED, "backup": True})
    assert result["changed"] and not result.get("failed"), result
    assert os.path.islink(link) and result["written_path"] == target
    with open(target, encoding="utf-8") as handle:
        config = json.load(handle)
    assert config == dict(HARDENED, debug=False)
    returncode, output = private_dockerd(config)
    assert returncode == 0, output


def test_unparsable_file_fails_with_position(docker_cli, workdir):
    path = os.path.join(workdir, "daemon.json")
    text = '{\n  "icc": false,\n  "debug": yes\n}\n'
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    result = run_module(MODULE, {"path": path, "settings": HARDENED})
    assert result["failed"] and "line 3 column 12" in result["msg"] and "never overwritten" in result["msg"]
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == text


def test_seccomp_profile_checked_on_the_host(docker_cli, workdir):
    path = os.path.join(workdir, "daemon.json")
    missing = os.path.join(workdir, "missing.json")
    result = run_module(MODULE, {"path": path, "settings": {"seccomp-profile": missing}})
    assert result["failed"] and "does not exist" in result["msg"]
    fifo = os.path.join(workdir, "profile.fifo")
    os.mkfifo(fifo)
    result = run_module(MODULE, {"path": path, "settings": {"seccomp-profile": fifo}})
    assert result["failed"] and "not a regular file (a FIFO)" in result["msg"]
    profile = os.path.join(workdir, "profile.json")
    with open(profile, "w", encoding="utf-8") as handle:
        json.dump({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]},
                  handle)
    result = run_module(MODULE, {"path": path, "settings": {"seccomp-profile": profile}})
    assert result["changed"] and not result.get("failed"), result
