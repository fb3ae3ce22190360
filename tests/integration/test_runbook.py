"""The runbook's stage roles against the host dockerd (no AppArmor in this kernel: ``confine_apparmor: false``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from conftest import DOCKER, ROOT, ansible_playbook, start_playbook

CONTAINER = "rbtest-runbook"
IMAGE = "confine-lab/base:bookworm"


def _play(workdir, role, containers, extra=None, env=None):
    return ansible_playbook(*_play_args(workdir, role, containers, extra), check=False, env=env)


def _play_args(workdir, role, containers, extra=None):
    """The ansible-playbook arguments that run ``role`` (or ``harden.yml``) on the host for ``containers``."""
    playbook = os.path.join(workdir, "play-%s.yml" % role)
    with open(playbook, "w", encoding="utf-8") as handle:
        if role == "harden":
            json.dump([{"ansible.builtin.import_playbook": os.path.join(ROOT, "harden.yml")}], handle)
        else:
            json.dump([{"hosts": "localhost", "gather_facts": False, "roles": ["confine.docker.%s" % role]}], handle)
    variables = {
        "confine_apparmor": False,
        "confine_daemon": False,
        "confine_min_observe": 0,
        "confine_seccomp_dir": os.path.join(workdir, "seccomp"),
        "confine_state_dir": os.path.join(workdir, "state"),
        # The test's own run lock: another run on this host (a molecule scenario, another checkout's tests) holding
        # /run/confine/lock would stop this one at its first task.
        "confine_lock_path": os.path.join(workdir, "lock"),
        "confine_containers": containers,
        "ansible_python_interpreter": sys.executable,
    }
    variables.update(extra or {})
    varfile = os.path.join(workdir, "vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    return ("-i", "localhost,", "-c", "local", "-e", "@" + varfile, playbook)


def _recap(proc):
    line = [row for row in proc.stdout.splitlines() if row.startswith("localhost ") and "ok=" in row][-1]
    return dict(field.split("=") for field in line.split(":", 1)[1].split())


def _inspect(name):
    out = subprocess.run([DOCKER, "inspect", name], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def _seccomp_opt(info):
    """The seccomp profile a container was given (Docker keeps the JSON in SecurityOpt), or None."""
    for opt in info["HostConfig"]["SecurityOpt"] or []:
        if opt.startswith("seccomp="):
            return json.loads(opt[len("seccomp="):])
    return None


def _state(workdir, name=CONTAINER):
    with open(os.path.join(workdir, "state", name, "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _seccomp_mode(pid):
    with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
        return next(line.split()[1] for line in handle if line.startswith("Seccomp:"))


@pytest.fixture()
def workdir(docker_cli):
    path = tempfile.mkdtemp(prefix="rbtest-")
    subprocess.run([docker_cli, "rm", "-f", CONTAINER], capture_output=True, check=False)
    yield path
    subprocess.run([docker_cli, "rm", "-f", CONTAINER], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", path], check=False)


CONTAINERS = [{"name": CONTAINER, "image": IMAGE, "run": {"command": ["sleep", "infinity"]}}]


@pytest.mark.parametrize(
    "containers, message",
    [
        ([{"name": CONTAINER}], "image"),
        ([{"image": IMAGE}], "name"),
        ([{"name": CONTAINER, "image": IMAGE, "colour": "red"}], "colour"),
        ([{"name": CONTAINER, "image": IMAGE}, {"name": CONTAINER, "image": IMAGE}], "more than once"),
        ([{"name": "../escape", "image": IMAGE}], "not a container name"),
        ([{"name": "web\n", "image": IMAGE}], "not a container name"),
    ],
)
def test_schema_errors_stop_before_any_change(workdir, containers, message):
    proc = _play(workdir, "complain", containers)
    assert proc.returncode != 0
    assert message in proc.stdout
    assert subprocess.run([DOCKER, "inspect", CONTAINER], capture_output=True, check=False).returncode != 0
    assert not os.path.exists(os.path.join(workdir, "state", CONTAINER))
    assert not os.path.exists(os.path.join(workdir, "escape"))


def test_a_container_that_stops_during_its_trial_ends_the_run_with_what_explains_it(workdir):
    containers = [{"name": CONTAINER, "image": IMAGE,
                   "run": {"command": ["sh", "-c", "echo the app gives up; sleep 3; exit 3"]},
                   "workload": {"commands": [["true"]]}}]
    assert _play(workdir, "complain", containers).returncode == 0
    subprocess.run([DOCKER, "wait", CONTAINER], capture_output=True, check=True, timeout=60)
    proc = _play(workdir, "collect", containers)
    assert proc.returncode != 0
    assert "stopped (exit code 3) during its trial (before its workload)" in proc.stdout, proc.stdout
    assert "the app gives up" in proc.stdout
    assert "A DENIED record comes from a deny rule" in proc.stdout
    # The workload was not driven against the stopped container.
    assert "Run the workload commands" not in proc.stdout


def test_complain_deploys_a_log_mode_seccomp_profile_and_is_idempotent(workdir):
    first = _play(workdir, "complain", CONTAINERS)
    assert first.returncode == 0, first.stdout
    assert int(_recap(first)["changed"]) > 0
    info = _inspect(CONTAINER)
    assert info["State"]["Running"]
    profile = _seccomp_opt(info)
    assert profile["defaultAction"] == "SCMP_ACT_LOG"
    with open(os.path.join(workdir, "seccomp", "confine-%s.json" % CONTAINER), encoding="utf-8") as handle:
        assert json.load(handle) == profile
    assert "no-new-privileges:true" in info["HostConfig"]["SecurityOpt"]
    assert _seccomp_mode(info["State"]["Pid"]) == "2"
    state = _state(workdir)
    assert (state["mode"], state["round"], state["version"]) == ("complain", 1, 1)
    assert state["cursor"]["source"]
    second = _play(workdir, "complain", CONTAINERS)
    assert second.returncode == 0, second.stdout
    assert _recap(second)["changed"] == "0"
    assert _inspect(CONTAINER)["Id"] == info["Id"]
    assert _state(workdir) == state


def test_harden_check_mode_shows_the_changes_and_makes_none(workdir):
    playbook = os.path.join(workdir, "check.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        json.dump([{"ansible.builtin.import_playbook": os.path.join(ROOT, "harden.yml")}], handle)
    varfile = os.path.join(workdir, "check-vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump({"confine_apparmor": False, "confine_daemon": False, "confine_containers": CONTAINERS,
                   "confine_state_dir": os.path.join(workdir, "state"),
                   "confine_seccomp_dir": os.path.join(workdir, "seccomp"),
                   "ansible_python_interpreter": sys.executable}, handle)
    proc = ansible_playbook("-i", "localhost,", "-c", "local", "-e", "@" + varfile, "--check", "--diff", playbook,
                            check=False)
    assert proc.returncode == 0, proc.stdout
    assert int(_recap(proc)["changed"]) > 0
    # What would change is shown: the seccomp profile's diff and the container that would be created.
    assert "confine-%s.json" % CONTAINER in proc.stdout and "SCMP_ACT_LOG" in proc.stdout
    assert "Run the container under its trial profiles - %s" % CONTAINER in proc.stdout
    # Nothing changed.
    assert subprocess.run([DOCKER, "inspect", CONTAINER], capture_output=True, check=False).returncode != 0
    assert not os.path.exists(os.path.join(workdir, "state"))
    assert not os.path.exists(os.path.join(workdir, "seccomp"))


def test_harden_widens_the_trial_then_enforces_and_a_rerun_changes_nothing(workdir, auditd):
    # The seed leaves mkdir and rmdir out; the trial logs the workload's mkdir, widen admits it (and only it),
    # round 2 is clean.
    containers = [dict(CONTAINERS[0], seccomp={"base": "docker_default", "deny": ["mkdir", "mkdirat", "rmdir"]},
                       workload={"commands": [["mkdir", "-p", "/tmp/made-by-workload"]]},
                       health={"command": ["ls", "/tmp/made-by-workload"]})]
    # Two runs started together: one takes the host's run lock and hardens, the other stops at once, changing
    # nothing, with the holder named.
    args = _play_args(workdir, "harden", containers, extra={"confine_event_source": "audit"})
    runs = [start_playbook(*args) for _attempt in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert sorted(run.returncode for run in runs) == [0, 2], outputs
    winner, loser = (0, 1) if runs[0].returncode == 0 else (1, 0)
    stopped = _recap(subprocess.CompletedProcess(runs[loser].args, 2, outputs[loser], ""))
    assert (stopped["changed"], stopped["failed"], stopped["rescued"]) == ("0", "1", "0"), outputs[loser]
    assert "another confine.docker run holds the lock %s: ansible-playbook pid %d" % (
        os.path.join(workdir, "lock"), runs[winner].pid) in outputs[loser], outputs[loser]
    assert _recap(subprocess.CompletedProcess(runs[winner].args, 0, outputs[winner], ""))["changed"] != "0"
    state = _state(workdir)
    assert (state["mode"], state["version"], state["good_version"], state["clean"]) == ("enforce", 2, 2, True)
    with open(os.path.join(workdir, "state", CONTAINER, "events.v1.json"), encoding="utf-8") as handle:
        logged = {event["syscall"] for event in json.load(handle)["seccomp"]}
    assert logged & {"mkdir", "mkdirat"}, logged
    with open(os.path.join(workdir, "state", CONTAINER, "report.v1.md"), encoding="utf-8") as handle:
        assert "mkdir" in handle.read()
    info = _inspect(CONTAINER)
    profile = _seccomp_opt(info)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = {name for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for name in rule["names"]}
    assert logged & {"mkdir", "mkdirat"} <= allowed
    assert _seccomp_mode(info["State"]["Pid"]) == "2"
    assert "rmdir" not in allowed
    # Enforced: the workload's mkdir works, the rmdir the trial never saw is refused by the kernel.
    refused = subprocess.run([DOCKER, "exec", CONTAINER, "sh", "-c", "mkdir /tmp/d && rmdir /tmp/d"],
                             capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr, refused
    again = _play(workdir, "harden", containers, extra={"confine_event_source": "audit"})
    assert again.returncode == 0, again.stdout
    assert _recap(again)["changed"] == "0"
    assert _inspect(CONTAINER)["Id"] == info["Id"]

    # A version 3 that went wrong (it allows rmdir again): rollback goes back to version 2, the last good one.
    directory = os.path.join(workdir, "state", CONTAINER)
    with open(os.path.join(directory, "seccomp.v2.json"), encoding="utf-8") as handle:
        good = json.load(handle)
    bad = json.loads(json.dumps(good))
    bad["syscalls"][0]["names"] = sorted(set(bad["syscalls"][0]["names"]) | {"rmdir"})
    with open(os.path.join(directory, "seccomp.v3.json"), "w", encoding="utf-8") as handle:
        json.dump(bad, handle)
    with open(os.path.join(directory, "state.json"), "w", encoding="utf-8") as handle:
        json.dump(dict(state, version=3), handle)
    back = _play(workdir, "rollback", containers)
    assert back.returncode == 0, back.stdout
    rolled = _state(workdir)
    assert (rolled["mode"], rolled["version"], rolled["rolled_back_from"]) == ("enforce", 2, 3)
    info = _inspect(CONTAINER)
    assert _seccomp_opt(info) == profile
    refused = subprocess.run([DOCKER, "exec", CONTAINER, "sh", "-c", "mkdir /tmp/e && rmdir /tmp/e"],
                             capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr, refused


def test_a_failed_verify_rolls_the_host_back_and_fails_it(workdir, auditd):
    # auditd takes the trial's records: the kernel log rate-limits them on a busy host, and a trial that lost records
    # would stop at enforce instead of reaching the verify this test fails.
    containers = [dict(CONTAINERS[0], health={"command": ["test", "-e", "/no/such/file"]})]
    proc = _play(workdir, "harden", containers, extra={"confine_event_source": "audit"})
    assert proc.returncode != 0
    assert "Hardening failed on localhost in task 'Fail the host when a check failed'" in proc.stdout + proc.stderr, \
        proc.stdout[-3000:]
    assert "rbtest-runbook: health" in proc.stdout + proc.stderr
    # The report says what happened, not what was asked for (rollback_target previous, but no good version yet).
    assert ("rolled back: rbtest-runbook to the baseline (Docker's default seccomp; no good version to go back to)"
            in proc.stdout + proc.stderr), proc.stdout
    # No earlier good version: back to Docker's baseline, never unconfined.
    state = _state(workdir)
    assert state["mode"] == "baseline" and state["seccomp"] == "docker-default"
    info = _inspect(CONTAINER)
    assert _seccomp_opt(info) is None and _seccomp_mode(info["State"]["Pid"]) == "2"


def test_rollback_restores_docker_default_seccomp(workdir, docker_cli):
    subprocess.run(
        [docker_cli, "run", "-d", "--name", CONTAINER, "--security-opt", "seccomp=unconfined", IMAGE, "sleep",
         "infinity"],
        capture_output=True, check=True,
    )
    assert _seccomp_mode(_inspect(CONTAINER)["State"]["Pid"]) == "0"
    first = _play(workdir, "rollback", CONTAINERS)
    assert first.returncode == 0, first.stdout
    assert int(_recap(first)["changed"]) > 0
    info = _inspect(CONTAINER)
    assert not info["HostConfig"]["SecurityOpt"]
    assert _seccomp_mode(info["State"]["Pid"]) == "2"
    with open(os.path.join(workdir, "state", CONTAINER, "state.json"), encoding="utf-8") as handle:
        assert json.load(handle)["mode"] == "baseline"
    again = _play(workdir, "rollback", CONTAINERS)
    assert again.returncode == 0, again.stdout
    assert _recap(again)["changed"] == "0"


def test_unconfined_rollback_refused_without_diagnostic_flag(workdir):
    proc = _play(workdir, "rollback", CONTAINERS, extra={"confine_rollback_target": "unconfined"})
    assert proc.returncode != 0
    assert "refused" in proc.stdout
    assert subprocess.run([DOCKER, "inspect", CONTAINER], capture_output=True, check=False).returncode != 0


def test_harden_rolls_back_a_failed_host_and_finishes_the_others(workdir, docker_cli, auditd):
    # The good host's trial collects through auditd: on a busy host the kernel log rate-limits records, and a trial
    # that lost records stops at enforce, which is not what this test is about.
    broken = CONTAINER + "-broken"
    subprocess.run([docker_cli, "rm", "-f", broken], capture_output=True, check=False)
    state = os.path.join(workdir, "state")
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "confine_state_dir": state,
                "confine_daemon": False,
                "confine_min_observe": 0,
                "confine_seccomp_dir": os.path.join(workdir, "seccomp"),
                "confine_apparmor_dir": os.path.join(workdir, "apparmor"),
                "confine_lock_path": os.path.join(workdir, "lock"),
                "confine_event_source": "audit",
            },
            "hosts": {
                "rbtest-good": {"confine_apparmor": False, "confine_containers": CONTAINERS},
                "rbtest-broken": {
                    "confine_apparmor": True,
                    "confine_containers": [
                        {
                            "name": broken,
                            "image": IMAGE,
                            "run": {"command": ["sleep", "infinity"]},
                            "apparmor": {"spec": {"capabilities": {"allow": ["not_a_capability"]}}},
                        }
                    ],
                },
            },
        }
    }
    path = os.path.join(workdir, "inventory.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle)
    try:
        proc = ansible_playbook("-i", path, os.path.join("playbooks", "harden.yml"), check=False)
        assert proc.returncode != 0
        assert "Hardening failed on rbtest-broken" in proc.stdout, proc.stdout[-4000:]
        assert "rolled back: %s to the baseline (docker-default, Docker's default seccomp; " % broken in proc.stdout
        recap = {row.split()[0]: row for row in proc.stdout.splitlines() if "ok=" in row and "failed=" in row}
        assert "failed=0" in recap["rbtest-good"]
        assert "failed=1" in recap["rbtest-broken"] and "rescued=1" in recap["rbtest-broken"]
        assert _inspect(CONTAINER)["State"]["Running"]
        rolled = _inspect(broken)
        assert rolled["HostConfig"]["SecurityOpt"] == ["apparmor=docker-default"]
        assert _seccomp_mode(rolled["State"]["Pid"]) == "2"
        with open(os.path.join(state, broken, "state.json"), encoding="utf-8") as handle:
            assert json.load(handle)["mode"] == "baseline"
        with open(os.path.join(state, CONTAINER, "state.json"), encoding="utf-8") as handle:
            assert json.load(handle)["mode"] == "enforce"
    finally:
        subprocess.run([docker_cli, "rm", "-f", broken], capture_output=True, check=False)


def _put_state(workdir, name, text):
    directory = os.path.join(workdir, "state", name)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "state.json"), "w", encoding="utf-8") as handle:
        handle.write(text)
    return os.path.join(directory, "state.json")


def test_a_corrupt_state_stops_the_host_naming_the_file_and_rolls_nothing_back(workdir):
    path = _put_state(workdir, CONTAINER, '{"mode": "enforce", "version": 2')
    proc = _play(workdir, "harden", CONTAINERS)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "%s: is not valid JSON" % path in out and "Only this container is affected" in out, out[-3000:]
    recap = _recap(proc)
    assert (recap["changed"], recap["rescued"]) == ("0", "0"), recap
    assert subprocess.run([DOCKER, "inspect", CONTAINER], capture_output=True, check=False).returncode != 0
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == '{"mode": "enforce", "version": 2'


def test_rollback_leaves_a_container_whose_state_is_corrupt_and_rolls_the_others_back(workdir, docker_cli):
    other = CONTAINER + "-other"
    subprocess.run([docker_cli, "rm", "-f", other], capture_output=True, check=False)
    containers = [CONTAINERS[0], dict(CONTAINERS[0], name=other)]
    path = _put_state(workdir, CONTAINER, "[]")
    try:
        proc = _play(workdir, "rollback", containers, extra={"confine_rollback_target": "baseline"})
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert subprocess.run([DOCKER, "inspect", CONTAINER], capture_output=True, check=False).returncode != 0
        assert _inspect(other)["State"]["Running"] and _state(workdir, other)["mode"] == "baseline"
        with open(path, encoding="utf-8") as handle:
            assert handle.read() == "[]"
        assert "%s is left as it is: %s: holds list, not a JSON object" % (CONTAINER, path) in proc.stdout, \
            proc.stdout[-3000:]
    finally:
        subprocess.run([docker_cli, "rm", "-f", other], capture_output=True, check=False)


def test_harden_without_seccomp_profiles_verifies_what_it_did(workdir, auditd):
    # confine_seccomp false (and no AppArmor here): the container keeps Docker's default filter and verify does not
    # ask for a seccomp profile file of its own.
    containers = [dict(CONTAINERS[0], health={"command": ["true"]})]
    extra = {"confine_seccomp": False, "confine_event_source": "audit"}
    first = _play(workdir, "harden", containers, extra=extra)
    assert first.returncode == 0, first.stdout[-4000:]
    state = _state(workdir)
    assert (state["mode"], state["good_version"]) == ("enforce", 1) and "seccomp" not in os.listdir(workdir)
    info = _inspect(CONTAINER)
    assert _seccomp_opt(info) is None and _seccomp_mode(info["State"]["Pid"]) == "2"
    again = _play(workdir, "harden", containers, extra=extra)
    assert again.returncode == 0 and _recap(again)["changed"] == "0", again.stdout[-3000:]
