"""confine.docker.container_verify and the verify role in a real AppArmor kernel (the lab VM).

A small profile is loaded with ``apparmor_parser``; a container runs under it in enforce mode with
``no-new-privileges``. The module sees the profile from Docker and from the kernel, catches a DENIED record once the
container trips the profile's ``audit deny`` rule, catches complain mode, and catches a ``--privileged`` container
(which cannot start on the build host).
"""

from __future__ import annotations

import json
import os
import shlex
import time

import pytest
from conftest import AUDITD_READY, ROOT, ansible_playbook, one_stack, run_module, vm_ssh

pytestmark = pytest.mark.vm

MODULE = "confine.docker.container_verify"
HOST = "confine-vm-1"
IMAGE = "confine-lab/base:bookworm"
PROFILE = "confine-it-verify-vm"
CONTAINER = "confine-it-verify-vm"
PRIVILEGED = "confine-it-verify-vm-priv"
# The role's names: profile <prefix><name>, seccomp file <dir>/<prefix><name>.json.
ROLE_PREFIX = "aa-"
ROLE_CONTAINER = "confine-it-verify-role"
ROLE_PROFILE = ROLE_PREFIX + ROLE_CONTAINER
REMOTE_DIR = "/tmp/confine-it-verify"
AUDIT_LOG = "/var/log/audit/audit.log"
SECCOMP = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mount", "umount2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
READ_SHADOW = ("python3", "-c", "open('/etc/shadow').read()")


def profile_text(name):
    return (
        "#include <tunables/global>\n"
        "profile %s flags=(attach_disconnected,mediate_deleted) {\n"
        "  #include <abstractions/base>\n"
        "  file,\n"
        "  network inet tcp,\n"
        "  network inet udp,\n"
        "  capability chown,\n  capability dac_override,\n  capability setuid,\n  capability setgid,\n"
        "  signal,\n"
        "  audit deny /etc/shadow rw,\n"
        "}\n" % name
    )


def put(inventory, path, text):
    vm_ssh(inventory, "mkdir -p %s && cat > %s <<'CONFINE_EOF'\n%sCONFINE_EOF" % (
        shlex.quote(os.path.dirname(path)), shlex.quote(path), text))


def verify(inventory, containers, **args):
    return run_module(MODULE, {"containers": containers, **args}, inventory=inventory, host=HOST)


def checks(result, index=0):
    return {c["check"]: c for c in result["results"][index]["checks"]}


def vm_now(inventory):
    return float(vm_ssh(inventory, "date +%s.%N").stdout.strip())


def trip_profile(inventory, container, profile):
    """Read /etc/shadow in the container (denied and audited), wait for auditd's record; return the VM's time then."""
    denied = vm_ssh(inventory, shlex.join(("docker", "exec", container, *READ_SHADOW)), check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = vm_ssh(inventory, "grep -F 'apparmor=\"DENIED\"' %s | grep -F 'profile=\"%s\"' | "
                                  "grep -F 'name=\"/etc/shadow\"' || true" % (AUDIT_LOG, profile)).stdout
        if lines.strip():
            return vm_now(inventory)
        time.sleep(1)
    raise AssertionError("no DENIED record of %s in %s" % (profile, AUDIT_LOG))


@pytest.fixture(scope="module")
def vm(lab_inventory):
    inv = lab_inventory
    names = " ".join((CONTAINER, PRIVILEGED, ROLE_CONTAINER))
    vm_ssh(inv, "docker rm -f %s >/dev/null 2>&1; true" % names)
    for name in (PROFILE, ROLE_PROFILE):
        put(inv, "%s/%s" % (REMOTE_DIR, name), profile_text(name))
        vm_ssh(inv, "apparmor_parser -r -W %s/%s" % (REMOTE_DIR, name))
    put(inv, "%s/seccomp/%s.json" % (REMOTE_DIR, ROLE_PROFILE), json.dumps(SECCOMP, indent=2) + "\n")
    try:
        vm_ssh(inv, "docker run -d --name %s --security-opt apparmor=%s --security-opt no-new-privileges %s "
                    "sleep infinity" % (CONTAINER, PROFILE, IMAGE))
        vm_ssh(inv, "docker run -d --name %s --privileged %s sleep infinity" % (PRIVILEGED, IMAGE))
        # The role's container runs as the runbook runs it: without CAP_AUDIT_WRITE (the role's verify expects that).
        vm_ssh(inv, "docker run -d --name %s --cap-drop AUDIT_WRITE --security-opt apparmor=%s "
                    "--security-opt no-new-privileges --security-opt seccomp=%s/seccomp/%s.json %s sleep infinity"
                    % (ROLE_CONTAINER, ROLE_PROFILE, REMOTE_DIR, ROLE_PROFILE, IMAGE))
        yield inv
    finally:
        vm_ssh(inv, "docker rm -f %s >/dev/null 2>&1; true" % names, check=False)
        for name in (PROFILE, ROLE_PROFILE):
            vm_ssh(inv, "apparmor_parser -R %s/%s >/dev/null 2>&1; true" % (REMOTE_DIR, name), check=False)
        vm_ssh(inv, "rm -rf %s" % REMOTE_DIR, check=False)


def confined(**overrides):
    return dict(
        {
            "name": CONTAINER,
            "apparmor": PROFILE,
            "seccomp": "docker-default",
            "capabilities": {},
            "workload": [["python3", "-c", "open('/tmp/work', 'w').write('ok')"], "cat /tmp/work"],
            "health": {"command": ["test", "-s", "/tmp/work"]},
            "denied_since": "container_start",
        },
        **overrides,
    )


def test_enforced_profile_passes_then_a_denial_fails_it(vm, lab_suite):
    one_stack(lab_suite, "bookworm", "verify's checks of an enforced profile read the same /proc files and audit "
              "records on both kernels; the Debian 13 VM proves them through the hostile trial's verify stage")
    result = verify(vm, [confined()])
    assert not result.get("failed") and result["changed"] is False, result
    assert result["passed"] is True, result["failed_checks"]
    found = checks(result)
    assert found["apparmor"]["actual"] == {"security_opt": PROFILE, "profile": PROFILE}
    assert found["apparmor_kernel"]["actual"] == "%s (enforce)" % PROFILE
    assert found["no_new_privileges_kernel"]["actual"] == "1"
    assert found["denied"]["actual"] == 0 and AUDIT_LOG in found["denied"]["detail"]

    tripped_at = trip_profile(vm, CONTAINER, PROFILE)
    caught = verify(vm, [confined()])
    assert caught["failed_checks"] == ["%s: denied" % CONTAINER], caught
    denied = checks(caught)["denied"]
    assert denied["actual"] >= 1 and "/etc/shadow" in denied["detail"]
    # Counted from a later point (a new enforcement), the old denial no longer counts.
    assert verify(vm, [confined(denied_since=tripped_at + 1)])["passed"] is True


@pytest.fixture
def debian12_only(lab_suite):
    """One stack is enough for verify's journal reading: it is security_events' reader, which
    test_events_journal_vm proves on both, and a dozen verify runs in a TCG VM cost minutes of make test."""
    one_stack(lab_suite, "bookworm", "verify's journal reading is security_events' reader, proven on both stacks")


@pytest.fixture
def journald(vm):
    """auditd stopped: the kernel's audit records go to the kernel log and journald's audit socket only, and the
    event source auto picks the journal. auditd is started again afterwards."""
    assert vm_ssh(vm, "systemctl is-active systemd-journald-audit.socket", check=False).stdout.strip() == "active"
    vm_ssh(vm, "systemctl stop auditd")
    try:
        assert "pid 0" in vm_ssh(vm, "auditctl -s").stdout.splitlines(), "auditd is still registered with the kernel"
        yield vm
    finally:
        vm_ssh(vm, AUDITD_READY, check=False)


def journal_cursor(inventory):
    result = run_module("confine.docker.security_events", {"source": "journal", "profiles": [PROFILE]},
                        inventory=inventory, host=HOST)
    assert not result.get("failed") and result["cursor"]["source"] == "journal", result
    return result["cursor"]


def denied_until(inventory, container, want):
    """Verify ``container`` until its denied check counts ``want`` records or more (journald stores them
    asynchronously), at most 30 s; return the last denied check."""
    deadline = time.monotonic() + 30
    while True:
        result = verify(inventory, [container])
        assert not result.get("failed"), result
        denied = checks(result)["denied"]
        if (denied["actual"] or 0) >= want or time.monotonic() > deadline:
            return denied
        time.sleep(1)


def test_denials_are_read_from_journald_when_auditd_does_not_run(debian12_only, journald, tmp_path):
    before = journal_cursor(journald)
    started = vm_now(journald)
    # Nothing denied yet after the cursor, or since now: auto reads the journal.
    quiet = checks(verify(journald, [confined(denied_since=before)]))["denied"]
    assert quiet["passed"] and quiet["actual"] == 0 and quiet["detail"].startswith("searched journal"), quiet
    assert checks(verify(journald, [confined(denied_since=started)]))["denied"]["detail"] == "searched journal"

    shadow = vm_ssh(journald, shlex.join(("docker", "exec", CONTAINER, *READ_SHADOW)), check=False)
    assert shadow.returncode != 0 and "Permission denied" in shadow.stderr, shadow
    # The denial after the journal cursor (security_events' own), after a time, and since the container started.
    for since in (before, started, "container_start"):
        denied = denied_until(journald, confined(denied_since=since), 1)
        assert not denied["passed"] and denied["actual"] >= 1, (since, denied)
        assert denied["detail"].startswith("%d DENIED record(s) in journal; latest: open /etc/shadow "
                                           % denied["actual"]), denied
    # Journald holds the record in both transports: it is counted once.
    assert denied_until(journald, confined(denied_since=before), 1)["actual"] == 1
    # The source named explicitly reads the same; a cursor taken after the denial sees nothing.
    assert checks(verify(journald, [confined(denied_since=before)], source="journal"))["denied"]["actual"] == 1
    after = journal_cursor(journald)
    assert checks(verify(journald, [confined(denied_since=after)]))["denied"]["actual"] == 0
    # A journal cursor with another source named is bad input, not a failed check.
    wrong = verify(journald, [confined(denied_since=after)], source="audit")
    assert wrong.get("failed") and "made by source 'journal'" in wrong["msg"], wrong

    # The role reads state.json's journal cursor from the journal (confine_event_source unset: auto).
    workdir = str(tmp_path)
    role_shadow = vm_ssh(journald, shlex.join(("docker", "exec", ROLE_CONTAINER, *READ_SHADOW)), check=False)
    assert role_shadow.returncode != 0, role_shadow
    role_state = "%s/state/%s/state.json" % (REMOTE_DIR, ROLE_CONTAINER)
    try:
        put(journald, role_state, json.dumps({"container": ROLE_CONTAINER, "mode": "enforce", "cursor": before}) + "\n")
        deadline = time.monotonic() + 30
        while True:
            proc, report = role_run(journald, workdir, {"verify_denied_since": "state"})
            if proc.returncode != 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert proc.returncode != 0 and report["failed_checks"] == ["%s: denied" % ROLE_CONTAINER], report
        assert report["results"][0]["checks"][-1]["detail"].startswith("1 DENIED record(s) in journal; ")
        put(journald, role_state, json.dumps({"container": ROLE_CONTAINER, "mode": "enforce",
                                              "cursor": journal_cursor(journald)}) + "\n")
        explicit = {"verify_denied_since": "state", "confine_event_source": "journal"}
        for extra in ((), ("--check",)):
            proc, report = role_run(journald, workdir, explicit, *extra)
            assert proc.returncode == 0, proc.stdout
            assert report["passed"] is True
            assert report["results"][0]["checks"][-1]["detail"].startswith("searched journal")
    finally:
        vm_ssh(journald, "rm -f %s" % role_state, check=False)


def test_complain_mode_is_caught(vm):
    path = "%s/%s" % (REMOTE_DIR, PROFILE)
    vm_ssh(vm, "apparmor_parser -r -W -C %s" % path)
    try:
        result = verify(vm, [confined(denied_since=None)])
        assert result["failed_checks"] == ["%s: apparmor_kernel" % CONTAINER]
        assert checks(result)["apparmor_kernel"]["actual"] == "%s (complain)" % PROFILE
        assert verify(vm, [confined(denied_since=None, apparmor_mode="complain")])["passed"] is True
    finally:
        vm_ssh(vm, "apparmor_parser -r -W %s" % path)


def test_privileged_container_is_caught(vm):
    result = verify(vm, [{"name": PRIVILEGED, "apparmor": PROFILE, "seccomp": "docker-default", "capabilities": {}}])
    assert result["failed_checks"] == [
        "%s: %s" % (PRIVILEGED, check)
        for check in ("apparmor", "apparmor_kernel", "seccomp", "seccomp_kernel", "privileged", "no_new_privileges",
                      "no_new_privileges_kernel")
    ]
    found = checks(result)
    assert found["apparmor_kernel"]["actual"] == "unconfined"
    assert found["privileged"]["actual"] is True
    assert found["seccomp_kernel"]["actual"] == "0 (disabled)"
    # Declared as privileged (and nothing else expected), it passes.
    assert verify(vm, [{"name": PRIVILEGED, "privileged": True, "no_new_privileges": False}])["passed"] is True


def role_run(inventory, workdir, extra_vars, *args):
    variables = {
        "confine_hosts": HOST,
        "confine_profile_prefix": ROLE_PREFIX,
        "confine_seccomp_dir": REMOTE_DIR + "/seccomp",
        "confine_state_dir": REMOTE_DIR + "/state",
        "confine_containers": [
            {"name": ROLE_CONTAINER, "image": IMAGE, "workload": {"commands": ["python3 -c 'print(1)'"]},
             "health": {"command": "test -d /tmp"}},
        ],
        "verify_report_dir": workdir,
    }
    variables.update(extra_vars)
    varfile = os.path.join(workdir, "vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    proc = ansible_playbook("-i", inventory, "-e", "@" + varfile, os.path.join(ROOT, "playbooks", "verify.yml"),
                            *args, check=False)
    with open(os.path.join(workdir, HOST + ".json"), encoding="utf-8") as handle:
        return proc, json.load(handle)


def test_role_uses_state_json_as_the_start_of_enforcement(vm, lab_suite, tmp_path):
    one_stack(lab_suite, "bookworm", "the role's reading of state.json is the same on both stacks")
    workdir = str(tmp_path)
    tripped_at = trip_profile(vm, ROLE_CONTAINER, ROLE_PROFILE)
    # By default only what this run's workload and health check are refused counts: the earlier denial (a blocked
    # attack, say) does not fail a later compliance run.
    proc, report = role_run(vm, workdir, {})
    assert proc.returncode == 0, proc.stdout
    assert report["passed"] is True
    # Counting from the state: without state.json the count starts at the container's start and the denial fails
    # the host.
    proc, report = role_run(vm, workdir, {"verify_denied_since": "state"})
    assert proc.returncode != 0
    assert report["failed_checks"] == ["%s: denied" % ROLE_CONTAINER], report
    assert "confinement verification failed on %s: %s: denied" % (HOST, ROLE_CONTAINER) in proc.stdout
    # Enforcement recorded after the denial: nothing denied since, every check passes, in check mode too.
    cursor = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(tripped_at + 1)) + ".5Z"
    put(vm, "%s/state/%s/state.json" % (REMOTE_DIR, ROLE_CONTAINER),
        json.dumps({"container": ROLE_CONTAINER, "mode": "enforce", "cursor": cursor}) + "\n")
    for extra in ((), ("--check",)):
        proc, report = role_run(vm, workdir, {"verify_denied_since": "state"}, *extra)
        assert proc.returncode == 0, proc.stdout
        assert report["passed"] is True
        names = [c["check"] for c in report["results"][0]["checks"]]
        assert names == ["exists", "running", "apparmor", "apparmor_kernel", "seccomp", "seccomp_kernel",
                         "privileged", "no_new_privileges", "no_new_privileges_kernel", "capabilities",
                         "capabilities_kernel", "workload[0]", "health", "denied"]
        assert report["results"][0]["checks"][-1]["expected"] == "0 since %s" % cursor
