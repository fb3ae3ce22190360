"""The daemon role against a real, isolated dockerd (tests/integration/isolated_dockerd.py).

The host's own dockerd, /etc/docker/daemon.json and the runbook's state directory are never touched: the role is
pointed at a private dockerd with its own config file, socket, data and exec roots, restarted and reloaded by the
launcher's commands, and keeps its record of the original daemon.json in a state directory of the tests' own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from conftest import ansible_playbook
from isolated_dockerd import Handle

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "isolated_dockerd.py")
BASE = "/var/lib/confine-it-daemon"
RUN = "/run/confine-it-daemon"
CONFIG = os.path.join(BASE, "daemon.json")
STATE = os.path.join(BASE, "state")
RECORD = os.path.join(STATE, "daemon.json.original.json")
PIDFILE = os.path.join(RUN, "docker.pid")
HOST = "unix://" + os.path.join(RUN, "docker.sock")
IMAGE = "confine-lab/base:bookworm"
CONTAINER = "confine-it-daemon-workload"
# A file as a user could have it: their own keys, their own layout.
USER_FILE = '{\n    "labels": ["site=lab"],\n    "log-opts": {"max-size": "10m"},\n    "debug": false\n}\n'
DAEMON = Handle(BASE, RUN)
launcher, docker = DAEMON.launcher, DAEMON.docker


def info():
    return json.loads(docker("info", "--format", "{{json .}}").stdout)


def dockerd_pid():
    with open(PIDFILE, encoding="ascii") as handle:
        return int(handle.read().strip())


def read_bytes(path=CONFIG):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def isolated_dockerd(docker_cli):
    """A private dockerd with the lab's base image loaded; purged afterwards."""
    launcher("purge")
    launcher("start")
    try:
        saved = subprocess.Popen([docker_cli, "save", IMAGE], stdout=subprocess.PIPE)
        loaded = subprocess.run([docker_cli, "-H", HOST, "load"], stdin=saved.stdout, capture_output=True, check=False)
        saved.stdout.close()
        assert saved.wait() == 0 and loaded.returncode == 0, "loading %s failed: %s" % (IMAGE, loaded.stderr)
        yield HOST
    finally:
        launcher("purge", check=False)


@pytest.fixture()
def daemon(isolated_dockerd):
    """Each test starts from USER_FILE, a freshly (re)started dockerd and no containers."""
    ids = docker("ps", "-aq").stdout.split()
    if ids:
        docker("rm", "-f", *ids)
    with open(CONFIG, "w", encoding="utf-8") as handle:
        handle.write(USER_FILE)
    for name in os.listdir(BASE):
        if name.startswith("daemon.json.") and name.endswith("~"):
            os.unlink(os.path.join(BASE, name))
    if os.path.exists(RECORD):
        os.unlink(RECORD)
    launcher("restart")
    yield isolated_dockerd
    if launcher("status", check=False).returncode != 0:
        launcher("restart", check=False)


def play(extra=None, check_mode=False, role="confine.docker.daemon"):
    """Run ``role`` on localhost against the isolated dockerd; return (CompletedProcess, recap dict).

    The file is named only by the runbook's shared setting (confine_daemon_config_path), and the state directory by
    confine_state_dir, as the inventory gives them to every stage."""
    workdir = tempfile.mkdtemp(prefix="confine-it-daemon-")
    playbook = os.path.join(workdir, "play.yml")
    body = {"hosts": "localhost", "gather_facts": False, "roles": [role]}
    with open(playbook, "w", encoding="utf-8") as handle:
        json.dump([body], handle)
    variables = {
        "confine_daemon_config_path": CONFIG,
        "confine_state_dir": STATE,
        "daemon_restart_command": [
            sys.executable, LAUNCHER, "restart", "--base", BASE, "--run", RUN, "--timeout", "30"
        ],
        "daemon_reload_command": [sys.executable, LAUNCHER, "reload", "--base", BASE, "--run", RUN],
        "daemon_docker_host": HOST,
        "daemon_verify_image": IMAGE,
        "daemon_wait_retries": 10,
        "daemon_wait_delay": 1,
        "ansible_python_interpreter": sys.executable,
    }
    variables.update(extra or {})
    varfile = os.path.join(workdir, "vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    args = ["-i", "localhost,", "-c", "local", "-e", "@" + varfile, playbook]
    if check_mode:
        args += ["--check", "--diff"]
    proc = ansible_playbook(*args, check=False)
    subprocess.run(["rm", "-rf", workdir], check=False)
    lines = [row for row in proc.stdout.splitlines() if row.startswith("localhost ") and "ok=" in row]
    recap = dict(field.split("=") for field in lines[-1].split(":", 1)[1].split()) if lines else {}
    return proc, recap


def run_workload():
    docker("run", "-d", "--name", CONTAINER, "--network", "none", IMAGE, "sleep", "infinity")
    return docker("inspect", "--format", "{{.State.StartedAt}}", CONTAINER).stdout.strip()


def workload_started_at():
    state = json.loads(docker("inspect", "--format", "{{json .State}}", CONTAINER).stdout)
    assert state["Running"], state
    return state["StartedAt"]


def new_container_status():
    out = docker("run", "--rm", "--network", "none", "--entrypoint", "cat", IMAGE, "/proc/self/status").stdout
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_check_mode_reports_and_changes_nothing(daemon):
    pid = dockerd_pid()
    proc, recap = play(check_mode=True)
    assert proc.returncode == 0, proc.stdout
    assert int(recap["changed"]) >= 1
    assert '+  "no-new-privileges": true' in proc.stdout  # the diff
    assert "would restart dockerd" in proc.stdout
    assert read_bytes() == USER_FILE.encode()
    assert dockerd_pid() == pid


def test_defaults_applied_restart_verified_then_idempotent(daemon):
    before = info()
    assert before["LiveRestoreEnabled"] is False
    pid = dockerd_pid()

    proc, recap = play()
    assert proc.returncode == 0, proc.stdout
    assert int(recap["changed"]) >= 2  # the write and the restart
    assert dockerd_pid() != pid

    written = json.loads(read_bytes())
    assert written == {
        "labels": ["site=lab"], "log-opts": {"max-size": "10m"}, "debug": False,  # the user's keys, unchanged
        "no-new-privileges": True, "live-restore": True, "icc": False, "userland-proxy": False, "log-level": "info",
    }
    backups = [name for name in os.listdir(BASE) if name.startswith("daemon.json.") and name.endswith("~")]
    assert len(backups) == 1 and read_bytes(os.path.join(BASE, backups[0])) == USER_FILE.encode()
    # The role records where the original is, as hosts hardened by earlier releases have it.
    record = {"backup": os.path.join(BASE, backups[0]), "created": False}
    assert json.loads(read_bytes(RECORD)) == record

    now = info()
    assert now["LiveRestoreEnabled"] is True
    assert "name=seccomp,profile=default" in now["SecurityOptions"]
    status = new_container_status()
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"

    pid = dockerd_pid()
    again, recap = play()
    assert again.returncode == 0, again.stdout
    assert recap["changed"] == "0"
    assert dockerd_pid() == pid
    check, recap = play(check_mode=True)
    assert check.returncode == 0 and recap["changed"] == "0"
    # A later change keeps the record of the first one.
    assert play({"daemon_extra_settings": {"debug": True}})[0].returncode == 0
    assert json.loads(read_bytes(RECORD)) == record


def test_daemon_wide_seccomp_profile(daemon):
    profile = os.path.join(BASE, "baseline.json")
    with open(profile, "w", encoding="utf-8") as handle:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["chmod", "fchmod", "fchmodat"], "action": "SCMP_ACT_ERRNO"}]}, handle)
    proc, _output = play({"daemon_seccomp_profile": profile})
    assert proc.returncode == 0, proc.stdout
    assert "name=seccomp,profile=%s" % profile in info()["SecurityOptions"]
    assert json.loads(read_bytes())["seccomp-profile"] == profile
    # Every new container gets it: chmod is refused with EPERM.
    probe = docker("run", "--rm", "--network", "none", IMAGE, "python3", "-c",
                   "import os\ntry:\n os.chmod('/tmp', 0o777)\nexcept PermissionError:\n print('EPERM')", check=False)
    assert probe.stdout.strip() == "EPERM", probe.stdout + probe.stderr


def test_bad_value_restores_previous_file_byte_for_byte(daemon):
    assert play()[0].returncode == 0
    previous = read_bytes()
    started = run_workload()

    # Passes the module's validation (log-opts is an object of strings) but json-file has no option "max-sise".
    proc, recap = play({"daemon_extra_settings": {"log-opts": {"max-sise": "20m"}}})
    assert proc.returncode != 0 and recap["failed"] == "1" and recap["rescued"] == "1"
    assert "unknown log opt 'max-sise'" in proc.stdout  # the first error, from dockerd
    assert "the previous file was put back from %s/daemon.json." % BASE in proc.stdout
    assert "dockerd runs again (restart" in proc.stdout
    assert read_bytes() == previous
    assert info()["LiveRestoreEnabled"] is True
    assert workload_started_at() == started  # live-restore kept the container running through both restarts


def test_failed_new_file_is_removed(daemon):
    os.unlink(CONFIG)
    launcher("restart")
    proc, _output = play({"daemon_extra_settings": {"log-opts": {"max-sise": "20m"}}})
    assert proc.returncode != 0
    assert "the daemon.json this run created was removed" in proc.stdout
    assert "dockerd runs again" in proc.stdout
    assert not os.path.exists(CONFIG)
    assert info()["LiveRestoreEnabled"] is False
    assert not os.path.exists(RECORD)  # a failed change restores its own backup and leaves nothing to roll back


def test_second_failure_is_reported_with_the_first(daemon):
    previous = read_bytes()
    # A restart that stops dockerd and cannot start it again, like a broken unit.
    broken = ["sh", "-c", '"$0" "$1" stop --base "$2" --run "$3" && echo "simulated: dockerd will not start" >&2 '
              "&& exit 1", sys.executable, LAUNCHER, BASE, RUN]
    proc, _output = play({"daemon_restart_command": broken, "daemon_wait_retries": 2})
    assert proc.returncode != 0
    assert "First error - Restart or reload dockerd with the configured command - restart:" in proc.stdout
    assert "SECOND ERROR: dockerd does not answer after the restart either: simulated: dockerd will not start" in (
        proc.stdout
    )
    assert read_bytes() == previous
    launcher("restart")


def test_failed_put_back_is_reported(daemon):
    # A restart that fails after something removed the backup: the restore cannot put the previous file back, and
    # says so instead of claiming it did.
    broken = ["sh", "-c", 'rm -f "$0"/daemon.json.*~; echo "simulated: dockerd will not start" >&2; exit 1', BASE]
    proc, recap = play({"daemon_restart_command": broken, "daemon_wait_retries": 2})
    assert proc.returncode != 0 and recap["rescued"] == "1"
    assert "Restore - putting %s/daemon.json." % BASE in proc.stdout and "back failed: " in proc.stdout
    assert "the previous file was put back" not in proc.stdout
    assert not os.path.exists(RECORD)


def test_restart_refused_with_running_containers_and_no_live_restore(daemon):
    run_workload()
    pid = dockerd_pid()
    proc, _output = play({"daemon_live_restore": False})
    assert proc.returncode != 0
    assert "would stop the 1 running container(s)" in proc.stdout and "Nothing was changed" in proc.stdout
    assert read_bytes() == USER_FILE.encode()
    assert dockerd_pid() == pid

    allowed, _output = play({"daemon_live_restore": False, "confine_allow_container_restart": True})
    assert allowed.returncode == 0, allowed.stdout
    assert dockerd_pid() != pid
    assert json.loads(read_bytes())["no-new-privileges"] is True


def test_live_restore_is_turned_on_by_reload_before_the_restart(daemon):
    started = run_workload()
    pid = dockerd_pid()
    proc, _output = play()
    assert proc.returncode == 0, proc.stdout
    assert "Restart or reload dockerd with the configured command - reload" in proc.stdout
    assert dockerd_pid() != pid
    assert info()["LiveRestoreEnabled"] is True
    assert workload_started_at() == started  # without the reload first, the restart would have stopped it


def test_reloadable_change_reloads_without_restart(daemon):
    assert play()[0].returncode == 0
    pid = dockerd_pid()
    proc, _output = play({"daemon_extra_settings": {"debug": True}})
    assert proc.returncode == 0, proc.stdout
    assert "Restart or reload dockerd with the configured command - reload" in proc.stdout
    assert "Restart or reload dockerd with the configured command - restart" not in proc.stdout
    assert dockerd_pid() == pid
    assert info()["Debug"] is True


def test_refused_reload_restores_previous_file(daemon):
    assert play()[0].returncode == 0
    previous = read_bytes()
    pid = dockerd_pid()
    # A reloadable key dockerd refuses on SIGHUP (no such runtime): it logs the error and keeps running.
    proc, recap = play({"daemon_extra_settings": {"default-runtime": "confine-missing"}})
    assert proc.returncode != 0 and recap["rescued"] == "1"
    assert "dockerd did not apply the reloaded %s" % CONFIG in proc.stdout
    assert "the previous file was put back" in proc.stdout and "dockerd runs again (reload" in proc.stdout
    assert read_bytes() == previous
    assert dockerd_pid() == pid
    assert info()["DefaultRuntime"] == "runc"


def test_unparsable_file_stops_before_anything(daemon):
    broken = '{\n  "debug": true,\n  "icc": nope\n}\n'
    with open(CONFIG, "w", encoding="utf-8") as handle:
        handle.write(broken)
    pid = dockerd_pid()
    proc, recap = play()
    assert proc.returncode != 0 and recap["rescued"] == "0"
    assert "line 3 column" in proc.stdout and "never overwritten" in proc.stdout
    assert read_bytes() == broken.encode()
    assert dockerd_pid() == pid


def test_handler_restarts_and_verifies(daemon):
    assert play()[0].returncode == 0
    pid = dockerd_pid()
    tasks = [
        {"name": "something dockerd reads at start changed", "ansible.builtin.command": "true",
         "changed_when": True, "notify": "confine.docker.daemon restart"},
    ]
    workdir = tempfile.mkdtemp(prefix="confine-it-daemon-")
    try:
        playbook = os.path.join(workdir, "handler.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            json.dump([{
                "hosts": "localhost", "gather_facts": False,
                "roles": [{"role": "confine.docker.daemon"}], "tasks": tasks,
            }], handle)
        variables = {
            "daemon_config_path": CONFIG, "daemon_docker_host": HOST, "daemon_verify_image": IMAGE,
            "daemon_restart_command": [sys.executable, LAUNCHER, "restart", "--base", BASE, "--run", RUN],
            "daemon_reload_command": [sys.executable, LAUNCHER, "reload", "--base", BASE, "--run", RUN],
            "ansible_python_interpreter": sys.executable,
        }
        varfile = os.path.join(workdir, "vars.json")
        with open(varfile, "w", encoding="utf-8") as handle:
            json.dump(variables, handle)
        proc = ansible_playbook("-i", "localhost,", "-c", "local", "-e", "@" + varfile, playbook, check=False)
    finally:
        subprocess.run(["rm", "-rf", workdir], check=False)
    assert proc.returncode == 0, proc.stdout
    assert "RUNNING HANDLER [confine.docker.daemon : Restart the Docker daemon safely]" in proc.stdout
    assert dockerd_pid() != pid
    assert info()["LiveRestoreEnabled"] is True


def rollback(extra=None, check_mode=False):
    """The rollback role to the baseline, with no containers: only daemon.json goes back."""
    variables = {"confine_containers": [], "confine_rollback_target": "baseline"}
    variables.update(extra or {})
    return play(variables, check_mode=check_mode, role="confine.docker.rollback")


def test_rollback_to_the_baseline_restores_the_original_file(daemon):
    assert play()[0].returncode == 0
    assert json.loads(read_bytes())["live-restore"] is True and os.path.exists(RECORD)
    hardened = read_bytes()
    pid = dockerd_pid()

    check, _recap = rollback(check_mode=True)
    assert check.returncode == 0, check.stdout
    assert read_bytes() == hardened and os.path.exists(RECORD) and dockerd_pid() == pid

    proc, _recap = rollback()
    assert proc.returncode == 0, proc.stdout
    assert read_bytes() == USER_FILE.encode()  # byte for byte, from the path the daemon stage wrote
    assert dockerd_pid() != pid and info()["LiveRestoreEnabled"] is False  # restarted on it
    assert not os.path.exists(RECORD)

    again, recap = rollback()
    assert again.returncode == 0 and recap["changed"] == "0"
    assert read_bytes() == USER_FILE.encode()


def test_rollback_keeps_running_containers_unless_allowed_and_removes_a_created_file(daemon):
    os.unlink(CONFIG)
    launcher("restart")
    assert play()[0].returncode == 0
    assert json.loads(read_bytes(RECORD)) == {"backup": "", "created": True}
    run_workload()

    # The original (no file) has no live-restore: the restart would stop the container.
    proc, _recap = rollback()
    assert proc.returncode != 0 and "would stop the 1 running container(s)" in proc.stdout
    assert os.path.exists(CONFIG) and os.path.exists(RECORD)

    allowed, _recap = rollback({"confine_allow_container_restart": True})
    assert allowed.returncode == 0, allowed.stdout
    assert not os.path.exists(CONFIG) and not os.path.exists(RECORD)
    assert info()["LiveRestoreEnabled"] is False
