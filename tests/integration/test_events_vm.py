"""The collect -> widen -> enforce loop for real, in the AppArmor lab VM (auditd running).

A confine-lab/demo container runs under a complain-mode AppArmor profile generated from a spec and a log-mode
seccomp profile (SCMP_ACT_LOG by default, a small allow-list). It serves its normal workload and suffers a few
attacks: writing /etc/shadow, running a shell, mount and unshare(CLONE_NEWUSER). security_events collects the
records from auditd's log; profile_widen admits the workload's needs and refuses the attacks; a new container
under the enforced results passes the workload while every attack is blocked.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest
from conftest import AUDITD_READY, run_module, vm_ssh

pytestmark = pytest.mark.vm

HOST = "confine-vm-1"
NAME = "confine-it-ev"
PROFILE = "confine-it-ev"
TRIAL_SECCOMP = "/root/confine-it-ev-trial.json"
ENFORCED_SECCOMP = "/root/confine-it-ev-enforced.json"
SPEC = {
    "name": PROFILE,
    "filesystem": {"read_only_paths": ["/etc/**"], "writable_paths": ["/tmp/**"]},
}
# The busiest calls are allowed from the start so the trial's log stays small; everything else is logged.
ALLOW = ["read", "write", "close", "fstat", "newfstatat", "lseek", "mmap", "mprotect", "munmap", "brk",
         "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "futex", "epoll_wait", "epoll_pwait", "epoll_ctl",
         "recvfrom", "sendto", "getpid", "openat", "poll", "pread64", "getdents64", "fcntl", "clock_gettime",
         "exit", "exit_group"]
TRIAL = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
         "syscalls": [{"names": ALLOW, "action": "SCMP_ACT_ALLOW"}]}
SHADOW = ("python3", "-c", "open('/etc/shadow', 'a').write('')")
SHELL = ("python3", "-c", "import subprocess, sys; sys.exit(subprocess.call(['/bin/sh', '-c', 'true']))")
MOUNT = ("python3", "-c", "import ctypes, sys; l = ctypes.CDLL(None, use_errno=True); "
         "sys.exit(0 if l.mount(b'none', b'/mnt', b'tmpfs', 0, None) == 0 else ctypes.get_errno())")
UNSHARE = ("python3", "-c", "import ctypes, sys; l = ctypes.CDLL(None, use_errno=True); "
           "sys.exit(0 if l.unshare(0x10000000) == 0 else ctypes.get_errno())")


def ssh(inventory, command, check=True):
    return vm_ssh(inventory, command, host=HOST, check=check)


def module(inventory, name, args, check_mode=False):
    result = run_module(name, args, check_mode=check_mode, inventory=inventory, host=HOST)
    assert not result.get("failed"), result
    return result


def start(inventory, seccomp):
    ssh(inventory, f"docker rm -f {NAME} >/dev/null 2>&1; true")
    ssh(inventory, f"docker run -d --name {NAME} --security-opt apparmor={PROFILE} "
                   f"--security-opt seccomp={seccomp} confine-lab/demo:latest >/dev/null")


def in_container(inventory, *command):
    return ssh(inventory, shlex.join(("docker", "exec", NAME, *command)), check=False)


def workload(inventory):
    return in_container(inventory, "/usr/local/bin/demo-workload", "--wait", "60")


def write_json(inventory, path, data):
    module(inventory, "ansible.builtin.copy", {"content": json.dumps(data, indent=2) + "\n", "dest": path})


@pytest.fixture
def lab(lab_inventory):
    ssh(lab_inventory, AUDITD_READY)
    yield lab_inventory
    ssh(lab_inventory, f"docker rm -f {NAME} >/dev/null 2>&1; rm -f {TRIAL_SECCOMP} {ENFORCED_SECCOMP}; true",
        check=False)
    run_module("confine.docker.apparmor_profile", {"name": PROFILE, "state": "absent"}, inventory=lab_inventory,
               host=HOST)


def test_trial_collect_widen_enforce(lab):
    # Trial: complain-mode AppArmor profile from the spec, log-mode seccomp profile.
    module(lab, "confine.docker.apparmor_profile", {"name": PROFILE, "spec": SPEC, "mode": "complain"})
    write_json(lab, TRIAL_SECCOMP, TRIAL)
    start_cursor = module(lab, "confine.docker.security_events", {})
    assert start_cursor["source"] == "audit", start_cursor

    start(lab, TRIAL_SECCOMP)
    trial_work = workload(lab)
    assert trial_work.returncode == 0, trial_work.stdout + trial_work.stderr
    attacks = {name: in_container(lab, *command) for name, command in
               (("shadow", SHADOW), ("shell", SHELL), ("mount", MOUNT), ("unshare", UNSHARE))}
    assert attacks["shadow"].returncode == 0 and attacks["shell"].returncode == 0, attacks  # complain mode

    # Collect while the container runs (pids resolve to it through their cgroup).
    args = {"since": start_cursor["cursor"], "containers": [NAME]}
    deadline = time.monotonic() + 60
    while True:
        trial = module(lab, "confine.docker.security_events", args)
        names = {e["name"] for e in trial["apparmor"]}
        syscalls = {e["syscall"] for e in trial["seccomp"]}
        if ("/etc/shadow" in names and {"mount", "unshare"} <= syscalls) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert trial["lost"] == [], trial["lost"]
    assert "/etc/shadow" in names and any(name and name.endswith("/dash") for name in names), names
    assert {"mount", "unshare"} <= syscalls, syscalls
    assert all(e["container"] == NAME for e in trial["apparmor"] + trial["seccomp"])
    assert {e["profile"].split("//")[0] for e in trial["apparmor"]} == {PROFILE}  # and its null- children
    assert {e["action"] for e in trial["seccomp"]} == {"SCMP_ACT_LOG"}
    assert trial["stats"]["records"] > 0 and trial["stats"]["python"] > 0  # no libapparmor in the VM

    # Widen both profiles; the guard refuses the attacks.
    aa = module(lab, "confine.docker.profile_widen", {"kind": "apparmor", "profile": SPEC, "events": trial})
    refused = {item["key"]: item for item in aa["refused"]}
    assert "/etc/shadow" in refused and refused["/etc/shadow"]["category"] == "guard", aa["refused"]
    assert any(key.endswith("/dash") and item["category"] == "guard" for key, item in refused.items()), refused
    added = {item["key"] for item in aa["added"]}
    # The entrypoint's programs (run under complain mode's null- child profiles), by name: the guard admits no glob
    # over /usr/bin for exec; and the app's data files, generalised.
    assert {"/usr/bin/setpriv", "/usr/sbin/nginx", "/usr/bin/python3.11", "capability setuid"} <= added, added
    assert not [key for key in added if key.startswith("/usr/") and any(c in key for c in "*?[{")], added
    assert {"/var/lib/demo/records/*.json", "/var/lib/demo/records/.tmp-*"} <= added, added
    assert not [key for key in added if ".so" in key], added  # mapped libraries: abstractions/base has them
    again = module(lab, "confine.docker.profile_widen", {"kind": "apparmor", "profile": aa["profile"],
                                                         "events": trial})
    assert again["changed"] is False and again["added"] == [] and again["profile"] == aa["profile"]

    sc_args = {"kind": "seccomp", "src": TRIAL_SECCOMP, "dest": TRIAL_SECCOMP, "events": trial,
               "containers": [NAME], "backup": True}
    sc = module(lab, "confine.docker.profile_widen", sc_args)
    assert sc["changed"] is True
    sc_refused = {item["key"] for item in sc["refused"]}
    assert {"mount", "unshare"} <= sc_refused, sc["refused"]
    assert module(lab, "confine.docker.profile_widen", sc_args)["changed"] is False
    enforced = dict(sc["profile"], defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=1)
    write_json(lab, ENFORCED_SECCOMP, enforced)

    # Enforce: the widened AppArmor spec in enforce mode, the widened seccomp allow-list with ERRNO by default.
    module(lab, "confine.docker.apparmor_profile", {"name": PROFILE, "spec": aa["profile"], "mode": "enforce"})
    mark = module(lab, "confine.docker.security_events", {})
    start(lab, ENFORCED_SECCOMP)
    work = workload(lab)
    assert work.returncode == 0, "workload failed under the enforced profiles:\n%s\n%s" % (work.stdout, work.stderr)
    blocked = {name: in_container(lab, *command) for name, command in
               (("shadow", SHADOW), ("shell", SHELL), ("mount", MOUNT), ("unshare", UNSHARE))}
    assert blocked["shadow"].returncode != 0 and "Permission denied" in blocked["shadow"].stderr, blocked["shadow"]
    assert blocked["shell"].returncode != 0, blocked["shell"]
    assert blocked["mount"].returncode == 1, blocked["mount"]  # EPERM from seccomp
    assert blocked["unshare"].returncode == 1, blocked["unshare"]  # EPERM from seccomp
    after = module(lab, "confine.docker.security_events", {"since": mark["cursor"], "containers": [NAME]})
    denied = {e["name"] for e in after["apparmor"] if e["mode"] == "DENIED"}
    assert "/etc/shadow" in denied, after["apparmor"]
