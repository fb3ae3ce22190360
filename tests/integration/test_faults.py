"""The controller killed (SIGKILL to its whole process group) at chosen points of ``harden.yml``; the next run must
converge and the one after it report ``changed=0``.

Each kill point is a moment a real interruption can hit (a laptop lid, a cancelled CI job): the run is watched line
by line and killed when the point is reached -

- ``collect``: while the trial's workload runs and its records are collected;
- ``container_removed``: the moment dockerd reports the container destroyed by the enforce stage's recreation, before
  the new one exists;
- ``apparmor_enforced``: right after the kernel has the AppArmor profile in enforce mode (the enforce stage's first
  mechanism), before the container is recreated under it (in the AppArmor lab VM).

The uninterrupted run is timed beside each host point (the re-run's time is reported as a ratio of it). After each
kill the next run must finish with the container running, confined by its own profiles in enforce mode
(``docker inspect`` and the kernel's view), verify passed, and the run after it must change nothing. The killed
run's lock is taken over (same controller, its process gone). The first two points run against this host's dockerd
(seccomp enforced by this kernel, ``confine_apparmor: false``), the third in the lab VM, where a second run started
beside the first while that one holds the lock must stop at once, naming the holder, and change nothing.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from conftest import DOCKER, ROOT, ansible_playbook, one_stack, start_playbook, vm_ssh

NAME = "rbtest-faults"
PROFILE = "confine-" + NAME


def _killed_run(args, trigger, env=None, timeout=1800):
    """Run ansible-playbook ``args``; ``trigger(line)`` is called for each output line and returns True when the
    point is reached: the whole process group is then killed. Returns (output, seconds, killed)."""
    began = time.monotonic()
    proc = start_playbook(*args, env=env, start_new_session=True)
    lines = []
    killed = False
    deadline = began + timeout
    for line in proc.stdout:
        lines.append(line)
        if trigger(line):
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        assert time.monotonic() < deadline, "".join(lines[-50:])
    proc.stdout.close()
    proc.wait(timeout=60)
    return "".join(lines), time.monotonic() - began, killed


def _run(args, env=None):
    began = time.monotonic()
    proc = ansible_playbook(*args, check=False, env=env, timeout=1800)
    return proc, time.monotonic() - began


def _recap(output, host):
    rows = [row for row in output.splitlines() if row.startswith(host + " ") and "ok=" in row]
    assert rows, output[-3000:]
    return dict(field.split("=") for field in rows[-1].split(":", 1)[1].split())


class BannerThenEvent:
    """Trigger at the first line holding ``banner`` (after a line holding ``after``, when given); with ``event`` (a
    function started at the banner that blocks until the moment and returns True), at that moment instead."""

    def __init__(self, banner, delay=0.0, event=None, after=None):
        self.banner, self.delay, self.event, self.after = banner, delay, event, after
        self.armed = after is None

    def __call__(self, line):
        if not self.armed:
            self.armed = self.after in line
            return False
        if self.banner not in line:
            return False
        time.sleep(self.delay)
        return self.event() if self.event else True


def _destroy_watcher(command_prefix):
    """A function that waits for dockerd's destroy event of the container (the recreation's removal) and returns
    True at that moment; events of the last two seconds count, so a removal that beats the watcher is seen.
    ``command_prefix`` runs the watch elsewhere (the lab VM's ssh); None runs it here."""

    def wait():
        watch = ("exec %s events --since $(( $(date +%%s) - 2 )) --filter container=%s --filter event=destroy "
                 "--format '{{.Action}}'" % (DOCKER if not command_prefix else "docker", NAME))
        proc = subprocess.Popen([*(command_prefix or []), "sh", "-c", watch], stdout=subprocess.PIPE, text=True)
        try:
            ready, _unused, _unused = select.select([proc.stdout], [], [], 600)
            line = proc.stdout.readline() if ready else ""
        finally:
            proc.kill()
            proc.wait(timeout=30)
        assert line.strip() == "destroy", line
        return True

    return wait


# --- on this host: seccomp enforced by this kernel, no AppArmor ---------------------------------------------------

HOST_POINTS = {
    "collect": BannerThenEvent("TASK [confine.docker.collect : Collect the AppArmor and seccomp records", delay=0.5),
    "container_removed": BannerThenEvent(
        "TASK [confine.docker.container : Run the container under its confinement", event=_destroy_watcher(None),
        after="TASK [confine.docker.enforce : Read the host's clock before the container restarts under enforcement"),
}


def _host_containers(seed):
    return [{"name": NAME, "image": "confine-lab/base:bookworm",
             "run": {"command": ["sleep", "infinity"], "env": {"FAULTS_SEED": seed}},
             "seccomp": {"base": "docker_default", "deny": ["mkdir", "mkdirat"]},
             "workload": {"commands": [["mkdir", "-p", "/tmp/made-by-workload"]], "min_observe": 2},
             "health": {"command": ["ls", "/tmp/made-by-workload"]}}]


@pytest.fixture()
def host_workdir(docker_cli):
    path = tempfile.mkdtemp(prefix="rbtest-faults-")
    subprocess.run([docker_cli, "rm", "-f", NAME], capture_output=True, check=False)
    yield path
    subprocess.run([docker_cli, "rm", "-f", NAME], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", path], check=False)


def _host_args(workdir, seed):
    variables = {"confine_apparmor": False, "confine_daemon": False, "confine_min_observe": 0,
                 "confine_event_source": "audit", "confine_seccomp_dir": os.path.join(workdir, "seccomp"),
                 "confine_state_dir": os.path.join(workdir, "state"), "confine_containers": _host_containers(seed),
                 "confine_lock_path": os.path.join(workdir, "lock"), "ansible_python_interpreter": sys.executable}
    varfile = os.path.join(workdir, "vars-%s.json" % seed)
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    return ["-i", "localhost,", "-c", "local", "-e", "@" + varfile, os.path.join(ROOT, "harden.yml")]


def _host_confined():
    info = json.loads(subprocess.run([DOCKER, "inspect", NAME], capture_output=True, text=True,
                                     check=True).stdout)[0]
    assert info["State"]["Running"], info["State"]
    profile = next(json.loads(opt[len("seccomp="):]) for opt in info["HostConfig"]["SecurityOpt"]
                   if opt.startswith("seccomp="))
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO", profile["defaultAction"]
    with open("/proc/%d/status" % info["State"]["Pid"], encoding="utf-8") as handle:
        assert "Seccomp:\t2\n" in handle.read()
    return info["Id"]


@pytest.mark.faults
def test_killed_on_the_host_the_next_run_converges(host_workdir, auditd):
    # Hardened once; then for each point the entry changes (a new seed), and the run that re-hardens it is killed.
    first, full = _run(_host_args(host_workdir, "one"))
    assert first.returncode == 0, first.stdout
    lock = os.path.join(host_workdir, "lock")
    for point in ("collect", "container_removed"):
        output, partial, killed = _killed_run(_host_args(host_workdir, point), HOST_POINTS[point])
        assert killed, output[-3000:]
        with open(lock, encoding="utf-8") as handle:
            assert json.load(handle)["playbook"] == "harden.yml"  # the killed run's, taken over by the next
        again, rerun = _run(_host_args(host_workdir, point))
        assert again.returncode == 0, (point, again.stdout[-6000:])
        assert not os.path.exists(lock)
        container = _host_confined()
        third, steady = _run(_host_args(host_workdir, point))
        assert third.returncode == 0, (point, third.stdout[-6000:])
        assert _recap(third.stdout, "localhost")["changed"] == "0", (point, third.stdout[-6000:])
        assert _host_confined() == container
        print("FAULT host %s: uninterrupted %.0f s, killed after %.0f s, re-run %.0f s (%.2f of uninterrupted), "
              "third run %.0f s" % (point, full, partial, rerun, rerun / full, steady))


# --- in the AppArmor lab VM ---------------------------------------------------------------------------------------

def _enforced_watcher(lab_inventory):
    """A function that waits, in the VM, for the kernel to have the container's profile in enforce mode (the
    reload the enforce stage's first mechanism makes) and returns True at that moment."""

    def wait():
        loop = ("for i in $(seq 1 6000); do grep -q '^%s (enforce)' /sys/kernel/security/apparmor/profiles && exit 0; "
                "sleep 0.05; done; exit 1" % PROFILE)
        proc = vm_ssh(lab_inventory, loop, check=False, timeout=600)
        assert proc.returncode == 0, "the profile never reached enforce mode: %s" % proc.stderr
        return True

    return wait


def _vm_point(lab_inventory):
    """Right after the AppArmor profile is reloaded in enforce mode: the enforce stage deploys every mechanism in
    one task (AppArmor first, then seccomp), so the moment is the kernel's, watched from the task's start."""
    return BannerThenEvent("TASK [confine.docker.enforce : Enforce the reviewed profiles of",
                           event=_enforced_watcher(lab_inventory))


def _vm_args(lab_inventory, tmp_path, seed):
    varfile = tmp_path / ("vars-%s.json" % seed)
    varfile.write_text(json.dumps({
        "confine_hosts": "confine-vm-1",
        # The kills are in the container stages; the VM's daemon.json is left as the other VM tests expect it.
        "confine_daemon": False,
        "confine_containers": [{
            "name": NAME,
            "image": "confine-lab/demo:latest",
            "run": {"env": {"FAULTS_SEED": seed}},
            "apparmor": {"spec": {"filesystem": {"read_only_paths": ["/etc/**"]}}},
        }],
    }))
    return ["-i", lab_inventory, "-e", "@%s" % varfile, "harden.yml"]


def _vm_confined(lab_inventory):
    command = ("pid=$(docker inspect -f '{{.State.Pid}}' %s) && docker inspect -f '{{json .HostConfig.SecurityOpt}}' "
               "%s && cat /proc/$pid/attr/current && grep Seccomp: /proc/$pid/status && docker inspect -f '{{.Id}}' %s"
               % (NAME, NAME, NAME))
    out = vm_ssh(lab_inventory, command).stdout.splitlines()
    assert "apparmor=%s" % PROFILE in json.loads(out[0]), out
    assert out[1].startswith(PROFILE + " (enforce)"), out
    assert out[2].split() == ["Seccomp:", "2"], out
    return out[3]


class SecondRun:
    """A second ``harden.yml`` on the same VM, started beside the first once that one holds the host's lock (at its
    first line holding ``banner``), in a thread; ``then`` decides the first run's kill as before."""

    def __init__(self, banner, args, then):
        self.banner, self.args, self.then = banner, args, then
        self.thread, self.result = None, {}

    def _run(self):
        self.result["proc"], self.result["seconds"] = _run(self.args)

    def __call__(self, line):
        if self.thread is None and self.banner in line:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self.then(line)

    def wait(self):
        assert self.thread is not None, "the second run was never started"
        self.thread.join(timeout=1800)
        return self.result["proc"], self.result["seconds"]


# The kill in the VM costs three runbook runs under TCG: it runs on today's stack, Debian 13, only.
VM_SUITE = "trixie"


@pytest.mark.vm
@pytest.mark.faults
def test_killed_right_after_the_enforce_reload_the_next_run_converges(lab_suite, lab_inventory, tmp_path):
    one_stack(lab_suite, VM_SUITE, "the kill and its re-runs are the same code on both stacks (three runbook runs "
              "under TCG)")
    try:
        # Two runs on one VM: the second, started while the first holds the lock (its trial begins), stops at
        # once naming it and changes nothing; the first goes on until it is killed.
        second = SecondRun("TASK [confine.docker.complain : ", _vm_args(lab_inventory, tmp_path, "other"),
                           _vm_point(lab_inventory))
        output, partial, killed = _killed_run(_vm_args(lab_inventory, tmp_path, "two"), second)
        assert killed, output[-3000:]
        stopped, stopped_after = second.wait()
        assert stopped.returncode == 2, stopped.stdout[-3000:]
        assert "another confine.docker run holds the lock /run/confine/lock: ansible-playbook pid " in stopped.stdout
        assert "on the controller %s" % socket.gethostname() in stopped.stdout, stopped.stdout[-3000:]
        assert _recap(stopped.stdout, "confine-vm-1")["changed"] == "0", stopped.stdout[-3000:]
        mode = vm_ssh(lab_inventory, "cat /sys/kernel/security/apparmor/profiles").stdout
        assert "%s (enforce)" % PROFILE in mode, mode  # the kill came after the reload
        again, rerun = _run(_vm_args(lab_inventory, tmp_path, "two"))
        assert again.returncode == 0, again.stdout[-6000:]
        container = _vm_confined(lab_inventory)
        third, steady = _run(_vm_args(lab_inventory, tmp_path, "two"))
        assert third.returncode == 0, third.stdout[-6000:]
        assert _recap(third.stdout, "confine-vm-1")["changed"] == "0", third.stdout[-6000:]
        assert _vm_confined(lab_inventory) == container
        print("FAULT vm apparmor_enforced: killed after %.0f s, re-run %.0f s, third run %.0f s; the second run "
              "beside the first stopped after %.0f s" % (partial, rerun, steady, stopped_after))
    finally:
        vm_ssh(lab_inventory, "docker rm -f %s; apparmor_parser -R /etc/apparmor.d/containers/%s; "
               "rm -f /etc/apparmor.d/containers/%s /etc/docker/seccomp/%s*.json; rm -rf /var/lib/confine/%s; "
               "rm -f /run/confine/lock" % (NAME, PROFILE, PROFILE, PROFILE, shlex.quote(NAME)), check=False)
