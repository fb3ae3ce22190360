"""The runbook on a container it did not start (``adopt: true``), against the host's dockerd: a container made with
``docker run`` and many options is hardened with its configuration as it was, a re-run changes nothing, and a
rollback puts it back on the baseline with that configuration; one that cannot be adopted stops the host before
anything is stopped."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import DOCKER, ROOT, ansible_playbook
from test_adopt import differing, normalised
from test_runbook import _inspect, _play, _recap, _seccomp_mode, _seccomp_opt, _state

IMAGE = "confine-lab/base:bookworm"
NAME = "rbtest-adopted"
OPTIONS = ["-e", "A=1", "-e", "B=two words", "--label", "tier=front", "-p", "127.0.0.1:18097:80",
           "--restart", "unless-stopped", "--memory", "128m", "--pids-limit", "200", "--ulimit", "nofile=1024:2048",
           "--hostname", "adopted-host", "--tmpfs", "/run:rw,size=2m", "--cap-add", "NET_ADMIN", "--cap-drop",
           "MKNOD", "--dns", "9.9.9.9", "--add-host", "db:10.0.0.2", "--stop-signal", "SIGINT", "--init",
           "--workdir", "/tmp", "--log-opt", "max-size=1m", "--health-cmd", "true", "--health-interval", "10s",
           "--security-opt", "label=disable", "-i", "-t"]


# The docker CLI's attach flags (-i -t attach the client's streams) are the client's, not the container's
# configuration; _adopt leaves them out and docker_container sets them from interactive and tty.
CLIENT_FIELDS = ("AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce")


def compared(data):
    result = normalised(data)
    for key in CLIENT_FIELDS:
        result["Config"].pop(key, None)
    return result


def docker(*args, check=True):
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check)


@pytest.fixture()
def workdir(tmp_path, docker_cli):
    docker("rm", "-f", NAME, check=False)
    yield str(tmp_path)
    docker("rm", "-f", NAME, check=False)


def test_an_adopted_container_is_hardened_as_it_was_and_rolled_back_as_it_was(workdir, auditd):
    docker("run", "-d", "--name", NAME, *OPTIONS, IMAGE, "sleep", "infinity")
    before = _inspect(NAME)
    entries = [{"name": NAME, "adopt": True, "workload": {"commands": [["ls", "/tmp"]]},
                "health": {"command": ["true"]}}]
    extra = {"confine_event_source": "audit"}
    proc = _play(workdir, "harden", entries, extra)
    assert proc.returncode == 0, proc.stdout
    state = _state(workdir, NAME)
    assert (state["mode"], state["clean"]) == ("enforce", True), state
    with open(os.path.join(workdir, "state", NAME, "adopted.json"), encoding="utf-8") as handle:
        record = json.load(handle)
    assert record["container_id"] == before["Id"] and record["entry"]["image"] == IMAGE
    after = _inspect(NAME)
    assert after["Id"] != before["Id"] and after["State"]["Running"]
    assert _seccomp_opt(after)["defaultAction"] == "SCMP_ACT_ERRNO"
    assert _seccomp_mode(after["State"]["Pid"]) == "2"
    assert "label=disable" in after["HostConfig"]["SecurityOpt"]
    # Equal but for the confinement: the security options, and CAP_AUDIT_WRITE dropped (docs/collect-widen.md).
    changed = differing(compared(before), compared(after))
    assert changed == {"HostConfig.CapDrop": (["MKNOD"], ["AUDIT_WRITE", "MKNOD"])}, changed
    # The second run takes the record, not the container as it now runs: nothing changes.
    again = _play(workdir, "harden", entries, extra)
    assert again.returncode == 0 and _recap(again)["changed"] == "0", again.stdout
    assert _inspect(NAME)["Id"] == after["Id"]
    # playbooks/verify.yml verifies it by name alone, as any container on the host.
    verified = _verify_by_name(workdir, NAME)
    assert verified.returncode == 0 and "every container on localhost is confined as declared" in verified.stdout, \
        verified.stdout
    # Rollback: back on the baseline (Docker's default seccomp), the original configuration kept.
    back = _play(workdir, "rollback", entries, {"confine_rollback_target": "baseline"})
    assert back.returncode == 0, back.stdout
    rolled = _inspect(NAME)
    assert rolled["State"]["Running"] and _seccomp_opt(rolled) is None
    assert sorted(rolled["HostConfig"]["SecurityOpt"]) == ["label=disable"]
    changed = differing(compared(before), compared(rolled))
    assert set(changed) <= {"HostConfig.CapDrop"}, changed


def _verify_by_name(workdir, *names):
    with open(os.path.join(workdir, "vars.json"), encoding="utf-8") as handle:
        variables = json.load(handle)
    del variables["confine_containers"]  # an extra var: the playbook's own list could not replace it
    varfile = os.path.join(workdir, "verify-vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(dict(variables, confine_verify_names=",".join(names)), handle)
    return ansible_playbook("-i", "localhost,", "-c", "local", "-e", "@" + varfile,
                            os.path.join(ROOT, "playbooks", "verify.yml"), check=False)


def test_verify_by_name_fails_a_container_the_runbook_never_confined(workdir):
    docker("run", "-d", "--name", NAME, IMAGE, "sleep", "infinity")
    _play(workdir, "verify", [{"name": "unused", "image": IMAGE}])  # writes the workdir's vars.json
    proc = _verify_by_name(workdir, NAME)
    assert proc.returncode != 0
    assert "confinement verification failed on localhost: %s: seccomp" % NAME in proc.stdout, proc.stdout


def test_a_privileged_container_is_refused_before_anything_is_stopped(workdir):
    docker("create", "--name", NAME, "--privileged", IMAGE, "sleep", "infinity")
    before = _inspect(NAME)
    proc = _play(workdir, "harden", [{"name": NAME, "adopt": True}])
    assert proc.returncode != 0
    assert "cannot be adopted as it is: it is privileged" in proc.stdout, proc.stdout
    assert _inspect(NAME)["Id"] == before["Id"]
    assert not os.path.exists(os.path.join(workdir, "state"))


def test_a_container_joining_the_network_of_one_to_recreate_must_be_an_entry_after_it(workdir):
    sidecar = NAME + "-sidecar"
    docker("rm", "-f", sidecar, check=False)
    try:
        docker("run", "-d", "--name", NAME, IMAGE, "sleep", "infinity")
        docker("run", "-d", "--name", sidecar, "--network", "container:" + NAME, IMAGE, "sleep", "infinity")
        before = {name: _inspect(name)["Id"] for name in (NAME, sidecar)}
        proc = _play(workdir, "harden", [{"name": NAME, "adopt": True}])
        assert proc.returncode != 0
        assert ("container %r joins the network namespace of %r, which the runbook recreates" % (sidecar, NAME)
                in proc.stdout), proc.stdout
        # Listed, but before the container it joins: refused too, saying to list it after.
        proc = _play(workdir, "harden", [{"name": sidecar, "adopt": True}, {"name": NAME, "adopt": True}])
        assert proc.returncode != 0 and "is listed before it" in proc.stdout, proc.stdout
        assert {name: _inspect(name)["Id"] for name in (NAME, sidecar)} == before
        assert not os.path.exists(os.path.join(workdir, "state"))
    finally:
        docker("rm", "-f", sidecar, check=False)
