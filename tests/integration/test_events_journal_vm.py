"""security_events reading journald for real, in the AppArmor lab VM.

auditd is stopped for the test, so the kernel's audit records reach the journal twice: through the kernel log
(journald's kernel transport) and through journald's own audit socket (the audit transport). A container runs under
a complain-mode AppArmor profile and a log-mode seccomp profile that logs only mkdir/mkdirat, makes a few
directories and writes under /etc. The module takes a journal cursor, finds the records after it (syscall names
resolved, attributed to the container through its AppArmor profile, each record counted once although the journal
holds two copies) and, from the cursor it returns, finds only the records of a second run.

The first run keeps the kernel's printk rate limit, which drops most kernel-log copies of a container start's audit
records: nothing may be reported lost, since the audit transport has them all. The second run lifts the rate limit,
so every record is in both transports (journald stores the two copies independently, one may come after a cursor
the other came before): each record is counted once, and a later call does not count it again.
"""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest
from conftest import AUDITD_READY, run_module, vm_ssh

pytestmark = pytest.mark.vm

HOST = "confine-vm-1"
NAME = "confine-it-journal"
PROFILE = "confine-it-journal"
SECCOMP = "/tmp/confine-it-journal-seccomp.json"
LOG_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}],
}
SPEC = {"name": PROFILE, "filesystem": {"read_only_paths": ["/etc/**"], "writable_paths": ["/tmp/**"]}}
MARKER = "/etc/confine-it-journal"
# Two mkdir calls, then mkdir -p: /tmp (exists), /tmp/c, /tmp/c/d. seccomp logs a call before it runs, so a second
# run of the same command (the directories exist then) logs the same five calls.
WORKLOAD = "mkdir /tmp/a /tmp/b; mkdir -p /tmp/c/d; echo x > %s; true" % MARKER
MKDIR_CALLS = 5
CURSOR_RE = re.compile(r"^s=[0-9a-f]{32};i=[0-9a-f]+;b=[0-9a-f]{32};m=[0-9a-f]+;t=[0-9a-f]+;x=[0-9a-f]+$")


def ssh(inventory, command, check=True):
    return vm_ssh(inventory, command, host=HOST, check=check)


def module(inventory, name, args):
    result = run_module(name, args, inventory=inventory, host=HOST)
    assert not result.get("failed"), result
    return result


def events(inventory, since):
    return module(inventory, "confine.docker.security_events",
                  {"source": "journal", "since": since, "containers": [NAME]})


def journal_count(inventory, cursor, transport, grep, want):
    """How many ``transport`` entries after ``cursor`` have ``grep`` in their message (journalctl in the VM), once
    there are ``want`` of them or 30 s have passed (journald stores the two copies of a record independently).

    journalctl is given the module's own matches: ``--after-cursor`` skips one entry too many when the cursor's entry
    does not match the matches given (systemd 252)."""
    command = "journalctl -q --no-pager -o json --output-fields=MESSAGE,_TRANSPORT --after-cursor=%s %s" % (
        shlex.quote(cursor), "_TRANSPORT=kernel _TRANSPORT=audit _TRANSPORT=driver")
    deadline = time.monotonic() + 30
    while True:
        entries = [json.loads(line) for line in ssh(inventory, command).stdout.splitlines() if line.startswith("{")]
        count = sum(1 for e in entries if e.get("_TRANSPORT") == transport and grep in str(e.get("MESSAGE")))
        if count >= want or time.monotonic() > deadline:
            return count
        time.sleep(1)


def mkdir_total(result):
    return sum(e["count"] for e in result["seccomp"] if e["syscall"] in ("mkdir", "mkdirat"))


def wait_for(inventory, since, want):
    """Collect from ``since`` until ``want`` mkdir records of the container are in (journald writes asynchronously)."""
    deadline = time.monotonic() + 60
    while True:
        result = events(inventory, since)
        names = {e["name"] for e in result["apparmor"]}
        if (mkdir_total(result) >= want and MARKER in names) or time.monotonic() > deadline:
            return result
        time.sleep(2)


@pytest.fixture
def lab(lab_inventory):
    assert ssh(lab_inventory, "systemctl is-active systemd-journald-audit.socket", check=False).stdout.strip() == \
        "active", "the lab VM's journald should receive audit records (systemd-journald-audit.socket)"
    ratelimit = ssh(lab_inventory, "cat /proc/sys/kernel/printk_ratelimit").stdout.strip()
    assert ratelimit.isdigit(), ratelimit
    ssh(lab_inventory, AUDITD_READY)
    try:
        yield lab_inventory
    finally:
        restore = "echo %s > /proc/sys/kernel/printk_ratelimit; docker rm -f %s >/dev/null 2>&1; rm -f %s; true"
        ssh(lab_inventory, restore % (ratelimit, NAME, SECCOMP), check=False)
        ssh(lab_inventory, AUDITD_READY)
        run_module("confine.docker.apparmor_profile", {"name": PROFILE, "state": "absent"}, inventory=lab_inventory,
                   host=HOST)


def test_journal_source_collects_both_transports_once(lab):
    module(lab, "confine.docker.apparmor_profile", {"name": PROFILE, "spec": SPEC, "mode": "complain"})
    module(lab, "ansible.builtin.copy", {"content": json.dumps(LOG_MKDIR) + "\n", "dest": SECCOMP})
    ssh(lab, "docker rm -f %s >/dev/null 2>&1; systemctl stop auditd" % NAME)
    assert "pid 0" in ssh(lab, "auditctl -s").stdout.splitlines(), "auditd is still registered with the kernel"

    mark = module(lab, "confine.docker.security_events", {"source": "journal"})
    assert mark["source"] == "journal"
    assert set(mark["cursor"]) == {"version", "source", "cursor"} and mark["cursor"]["source"] == "journal"
    assert CURSOR_RE.match(mark["cursor"]["cursor"]), mark["cursor"]

    # First run, kernel printk rate limit as it is.
    ssh(lab, "docker run --name %s --security-opt apparmor=%s --security-opt seccomp=%s confine-lab/base:bookworm "
             "sh -c %s" % (NAME, PROFILE, SECCOMP, shlex.quote(WORKLOAD)))
    first = wait_for(lab, mark["cursor"], MKDIR_CALLS)
    assert first["source"] == "journal" and first["lost"] == [], first["lost"]
    assert mkdir_total(first) == MKDIR_CALLS, first["seccomp"]
    for event in first["seccomp"]:
        assert event["syscall"] in ("mkdir", "mkdirat"), event  # resolved by the VM's libseccomp
        assert (event["arch"], event["action"], event["container"]) == ("x86_64", "SCMP_ACT_LOG", NAME), event
        assert event["profile"].split("//")[0] == PROFILE and event["comm"] == "mkdir", event
    marker = [e for e in first["apparmor"] if e["name"] == MARKER]
    assert marker and {e["mode"] for e in marker} == {"ALLOWED"}, first["apparmor"]  # complain mode
    assert all(e["container"] == NAME for e in first["apparmor"]), first["apparmor"]
    assert {e["profile"].split("//")[0] for e in first["apparmor"]} == {PROFILE}
    # The audit transport holds every record; they are counted once each however many kernel copies survived.
    audit_copies = journal_count(lab, mark["cursor"]["cursor"], "audit", "SECCOMP ", want=MKDIR_CALLS)
    assert audit_copies == MKDIR_CALLS
    cursor = first["cursor"]
    assert cursor["source"] == "journal" and CURSOR_RE.match(cursor["cursor"]), cursor
    assert cursor["cursor"] != mark["cursor"]["cursor"]
    shown = ssh(lab, "journalctl -q --no-pager -o json --cursor=%s | head -n 1" % shlex.quote(cursor["cursor"]))
    assert json.loads(shown.stdout.splitlines()[0])["__CURSOR"] == cursor["cursor"]  # journald knows it

    # From the returned cursor: the first run's records are not counted again.
    again = events(lab, cursor)
    assert again["seccomp"] == [] and again["apparmor"] == [] and again["lost"] == [], again
    assert again["cursor"]["source"] == "journal" and CURSOR_RE.match(again["cursor"]["cursor"])

    # Second run without the printk rate limit: every record reaches both transports.
    ssh(lab, "echo 0 > /proc/sys/kernel/printk_ratelimit")
    ssh(lab, "docker start -a %s" % NAME)
    second = wait_for(lab, again["cursor"], MKDIR_CALLS)
    assert second["lost"] == [], second["lost"]
    assert mkdir_total(second) == MKDIR_CALLS, second["seccomp"]  # only the second run's calls
    assert {e["container"] for e in second["seccomp"] + second["apparmor"]} == {NAME}
    since = again["cursor"]["cursor"]
    kernel_copies = journal_count(lab, since, "kernel", "type=1326 ", want=MKDIR_CALLS)
    audit_copies = journal_count(lab, since, "audit", "SECCOMP ", want=MKDIR_CALLS)
    assert kernel_copies == audit_copies == MKDIR_CALLS  # two copies of each record in the journal ...
    latest = events(lab, again["cursor"])
    assert mkdir_total(latest) == MKDIR_CALLS, latest["seccomp"]  # ... counted once, all copies stored
    after = events(lab, latest["cursor"])
    assert after["seccomp"] == [] and after["apparmor"] == [], after  # and the late copies are not counted next time
