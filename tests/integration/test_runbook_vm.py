"""harden.yml on the AppArmor lab VM with a container whose AppArmor profile is the entry's own text
(``apparmor.content``) and without seccomp profiles of its own (``confine_seccomp: false``).

Such a profile is opaque to the runbook: complain loads it in complain mode, widen reviews the trial's records but
never adds a rule to it, enforce switches that same installed profile to enforce. A profile that covers the workload
is enforced and verified, and a re-run changes nothing; one that does not is refused at enforce, naming what the
workload needed, and the host is rolled back. The daemon stage is left out (``confine_daemon: false``): it is not
what these cases are about, and the VM's daemon.json stays as it was for the other tests.
"""

from __future__ import annotations

import json

import pytest
from conftest import ansible_playbook, one_stack, vm_ssh

pytestmark = pytest.mark.vm

HOST = "confine-vm-1"
# Each case runs on one lab stack (the enforced case on Debian 12, the refused one on Debian 13).
SEED_ON_ONE_STACK = "an opaque seed is handled by the same code on both stacks"
IMAGE = "confine-lab/base:bookworm"
STATE_DIR = "/var/lib/confine"
APPARMOR_DIR = "/etc/apparmor.d/containers"
INSPECT = ("pid=$(docker inspect -f '{{.State.Pid}}' %s); cat /proc/$pid/attr/current; grep Seccomp: /proc/$pid/status;"
           " docker inspect -f '{{json .HostConfig.SecurityOpt}}' %s")

COVERING = """abi <abi/3.0>,
#include <tunables/global>

# The whole workload's needs, written by hand: the runbook installs this text as it is and never widens it.
profile %(profile)s flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>
  file,
  network,
  unix,
  signal,
  capability,
  deny mount,
  deny /sys/[^f]*/** wklx,
  audit deny /etc/shadow r,
}
"""

NARROW = """abi <abi/3.0>,
#include <tunables/global>

# Reads and runs anything, writes nothing but /dev: a workload that writes under /tmp needs more than this.
profile %(profile)s flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>
  /** rmix,
  /dev/** rw,
  network,
  unix,
  signal,
  capability,
  deny mount,
}
"""


def _harden(inventory, tmp_path, name, content, workload):
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps({
        "confine_hosts": HOST,
        "confine_daemon": False,
        "confine_seccomp": False,
        "confine_containers": [{
            "name": name,
            "image": IMAGE,
            "run": {"command": ["sleep", "infinity"]},
            "apparmor": {"content": content},
            "workload": {"commands": workload, "min_observe": 2},
            "health": {"command": ["true"]},
        }],
    }))
    return ansible_playbook("-i", inventory, "-e", "@%s" % varfile, "harden.yml", check=False)


def _recap(proc):
    return [row for row in proc.stdout.splitlines() if row.startswith(HOST + " ")][-1]


def _state_files(inventory, name):
    return vm_ssh(inventory, "ls %s/%s" % (STATE_DIR, name)).stdout.split()


def _state(inventory, name):
    return json.loads(vm_ssh(inventory, "cat %s/%s/state.json" % (STATE_DIR, name)).stdout)


def _clean_up(inventory, name):
    profile = "confine-" + name
    vm_ssh(inventory, "docker rm -f %s; apparmor_parser -R %s/%s; rm -f %s/%s; rm -rf %s/%s" % (
        name, APPARMOR_DIR, profile, APPARMOR_DIR, profile, STATE_DIR, name), check=False)


def test_vm_harden_enforces_an_apparmor_content_seed_as_written_without_seccomp_profiles(
        lab_inventory, tmp_path, lab_suite):
    one_stack(lab_suite, "bookworm", SEED_ON_ONE_STACK)
    name = "rbtest-vm-content"
    profile = "confine-" + name
    content = COVERING % {"profile": profile}
    _clean_up(lab_inventory, name)
    try:
        first = _harden(lab_inventory, tmp_path, name, content, [["cat", "/etc/os-release"]])
        assert first.returncode == 0, first.stdout[-6000:]
        assert "changed=0" not in _recap(first)
        state = _state(lab_inventory, name)
        assert (state["mode"], state["version"], state["good_version"]) == ("enforce", 1, 1), state
        assert state["clean"] and state["added"] == 0 and state["blockers"] == []
        # No version files of a profile that is never widened, nor of seccomp profiles it does not have.
        files = _state_files(lab_inventory, name)
        assert not [f for f in files if f.startswith(("apparmor.", "seccomp."))], files
        report = vm_ssh(lab_inventory, "cat %s/%s/report.v1.md" % (STATE_DIR, name)).stdout
        assert "**Not widened:**" in report and "Nothing: the profile is never widened." in report
        # The installed profile is the entry's text, switched to enforce (no complain flag left).
        installed = vm_ssh(lab_inventory, "cat %s/%s" % (APPARMOR_DIR, profile)).stdout
        assert "audit deny /etc/shadow r," in installed and "complain" not in installed
        kernel = vm_ssh(lab_inventory, INSPECT % (name, name)).stdout
        assert kernel.startswith(profile + " (enforce)"), kernel
        # Docker's default filter (no seccomp option of the runbook's), and no-new-privileges.
        assert "Seccomp:\t2" in kernel and "seccomp=" not in kernel and "no-new-privileges:true" in kernel
        second = _harden(lab_inventory, tmp_path, name, content, [["cat", "/etc/os-release"]])
        assert second.returncode == 0 and "changed=0" in _recap(second), second.stdout[-4000:]
        # The profile holds: what it denies is denied in the running container.
        shadow = vm_ssh(lab_inventory, "docker exec %s cat /etc/shadow" % name, check=False)
        assert shadow.returncode != 0 and "Permission denied" in shadow.stderr, (shadow.stdout, shadow.stderr)
    finally:
        _clean_up(lab_inventory, name)


def test_vm_an_apparmor_content_seed_that_misses_a_need_is_refused_not_widened(lab_inventory, tmp_path, lab_suite):
    one_stack(lab_suite, "trixie", SEED_ON_ONE_STACK)
    name = "rbtest-vm-narrow"
    profile = "confine-" + name
    content = NARROW % {"profile": profile}
    _clean_up(lab_inventory, name)
    try:
        proc = _harden(lab_inventory, tmp_path, name, content, [["touch", "/tmp/confine-it-written"]])
        assert proc.returncode != 0, proc.stdout[-6000:]
        assert "was not clean" in proc.stdout and "/tmp/confine-it-written" in proc.stdout, proc.stdout[-6000:]
        state = _state(lab_inventory, name)
        assert state["mode"] == "baseline" and state["added"] == 0, state
        assert any("/tmp/confine-it-written" in key for key in state["blockers"]), state["blockers"]
        seed = [item for item in state["refused"] if "/tmp/confine-it-written" in item["key"]]
        assert seed and seed[0]["category"] == "seed", state["refused"]
        # Nothing was added to the entry's profile: no version of it was written, the installed text is the entry's.
        assert not [f for f in _state_files(lab_inventory, name) if f.startswith("apparmor.")]
        installed = vm_ssh(lab_inventory, "cat %s/%s" % (APPARMOR_DIR, profile)).stdout
        assert "confine-it-written" not in installed and "/dev/** rw," in installed
        report = vm_ssh(lab_inventory, "cat %s/%s/report.v1.md" % (STATE_DIR, name)).stdout
        assert "**Not widened:**" in report and "/tmp/confine-it-written" in report
        kernel = vm_ssh(lab_inventory, INSPECT % (name, name)).stdout
        assert kernel.startswith("docker-default (enforce)"), kernel
    finally:
        _clean_up(lab_inventory, name)
