"""confine.docker.apparmor_profile in a real AppArmor kernel (the lab VM).

One container runs under a generated profile the whole time: in complain mode its forbidden actions go through and
are logged as ``ALLOWED``; the module then switches the profile to enforce, the same container (no restart) is
denied and ``DENIED`` is logged, while its allowed work still runs.
"""

from __future__ import annotations

import json
import os
import shlex
import time

import pytest
from conftest import ROOT, run_module, vm_ssh

pytestmark = pytest.mark.vm

MODULE = "confine.docker.apparmor_profile"
HOST = "confine-vm-1"
PROFILE = "confine-it-aa"
CONTAINER = "confine-it-aa"
AUDIT_LOG = "/var/log/audit/audit.log"
SPEC = {
    "name": PROFILE,
    "filesystem": {
        "read_only_paths": ["/etc/**"],
        "writable_paths": ["/tmp/**"],
        "allow_exec": ["/usr/bin/sleep", "/usr/bin/python3*", "/usr/bin/cat"],
        "deny_exec": ["/{,usr/}bin/dash"],
    },
    "network": {"protocols": ["tcp", "udp"]},
}
WRITE_SHADOW = ("python3", "-c", "open('/etc/shadow', 'a').write('')")
# Run from inside the confined process: the exec that starts a `docker exec` command is the profile's entry point.
RUN_SHELL = ("python3", "-c", "import subprocess, sys; sys.exit(subprocess.call(['/bin/dash', '-c', 'true']))")
WORKLOAD = ("python3", "-c", "open('/tmp/work', 'w').write('ok'); print(open('/tmp/work').read())")


def module(inventory, check_mode=False, **args):
    return run_module(MODULE, {"name": PROFILE, "spec": SPEC, **args}, check_mode=check_mode,
                      inventory=inventory, host=HOST)


def in_container(inventory, *command):
    return vm_ssh(inventory, shlex.join(("docker", "exec", CONTAINER, *command)), check=False)


def audit_lines(inventory, verdict, since):
    """AppArmor records of ``verdict`` for the test profile written after line ``since`` of the audit log."""
    proc = vm_ssh(inventory, f"tail -n +{since + 1} {AUDIT_LOG}", check=False)
    return [line for line in proc.stdout.splitlines()
            if f'apparmor="{verdict}"' in line and f'profile="{PROFILE}"' in line]


def audit_mark(inventory):
    return int(vm_ssh(inventory, f"wc -l < {AUDIT_LOG}").stdout.strip())


def wait_for_records(inventory, verdict, since, wanted, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        lines = audit_lines(inventory, verdict, since)
        if all(any(w in line for line in lines) for w in wanted) or time.monotonic() > deadline:
            return lines
        time.sleep(1)


def aa_status(inventory):
    """``{profile: mode}`` as ``aa-status --json`` reports them (AppArmor 3.0 and 4.1 print the same JSON)."""
    return json.loads(vm_ssh(inventory, "aa-status --json").stdout)["profiles"]


def init_pid(inventory):
    return vm_ssh(inventory, f"docker inspect -f '{{{{.State.Pid}}}}' {CONTAINER}").stdout.strip()


@pytest.fixture
def lab(lab_inventory):
    vm_ssh(lab_inventory, f"docker rm -f {CONTAINER} >/dev/null 2>&1; true")
    try:
        yield lab_inventory
    finally:
        vm_ssh(lab_inventory, f"docker rm -f {CONTAINER} >/dev/null 2>&1; true", check=False)
        module(lab_inventory, state="absent")


def test_complain_then_enforce_without_restart(lab):
    # Complain: check mode first, then for real, then nothing left to do.
    assert module(lab, check_mode=True, mode="complain")["changed"] is True
    assert PROFILE not in aa_status(lab)
    first = module(lab, mode="complain")
    assert first["changed"] is True and not first.get("failed"), first
    assert module(lab, mode="complain")["changed"] is False
    assert aa_status(lab)[PROFILE] == "complain"

    vm_ssh(lab, f"docker run -d --name {CONTAINER} --security-opt apparmor={PROFILE} "
                "confine-lab/base:bookworm sleep 600")
    pid = init_pid(lab)
    assert vm_ssh(lab, f"cat /proc/{pid}/attr/current").stdout.strip() == f"{PROFILE} (complain)"

    mark = audit_mark(lab)
    assert in_container(lab, *WRITE_SHADOW).returncode == 0
    assert in_container(lab, *RUN_SHELL).returncode == 0
    allowed = wait_for_records(lab, "ALLOWED", mark, ['name="/etc/shadow"', "dash"])
    assert any('name="/etc/shadow"' in line for line in allowed), allowed
    assert any("dash" in line and 'operation="exec"' in line for line in allowed), allowed

    # Enforce, switched by the module: the running container follows without a restart.
    switched = module(lab, mode="enforce")
    assert switched["changed"] is True, switched
    assert module(lab, mode="enforce")["changed"] is False
    assert init_pid(lab) == pid
    assert vm_ssh(lab, f"cat /proc/{pid}/attr/current").stdout.strip() == f"{PROFILE} (enforce)"
    assert aa_status(lab)[PROFILE] == "enforce"

    mark = audit_mark(lab)
    shadow = in_container(lab, *WRITE_SHADOW)
    assert shadow.returncode != 0 and "Permission denied" in shadow.stderr, shadow
    shell = in_container(lab, *RUN_SHELL)
    assert shell.returncode != 0, shell
    denied = wait_for_records(lab, "DENIED", mark, ['name="/etc/shadow"', "dash"])
    assert any('name="/etc/shadow"' in line for line in denied), denied
    assert any("dash" in line for line in denied), denied

    work = in_container(lab, *WORKLOAD)
    assert work.returncode == 0 and work.stdout.strip() == "ok", work


def test_bane_sample_compiles_and_loads(lab):
    src = os.path.join(ROOT, "tests", "unit", "fixtures", "apparmor", "bane-sample.toml")
    args = {"src": src, "mode": "enforce"}
    try:
        result = run_module(MODULE, args, inventory=lab, host=HOST)
        assert result["changed"] is True and not result.get("failed"), result
        name = result["name"]
        loaded = vm_ssh(lab, "cat /sys/kernel/security/apparmor/profiles").stdout.splitlines()
        assert f"{name} (enforce)" in loaded
        assert run_module(MODULE, args, inventory=lab, host=HOST)["changed"] is False
    finally:
        run_module(MODULE, {"name": "docker-nginx", "state": "absent"}, inventory=lab, host=HOST)
