"""security_events and profile_widen against the real kernel and dockerd of this host (seccomp; no AppArmor here).

A container runs under a seccomp trial profile that logs a few syscalls (SCMP_ACT_LOG). Without auditd the records
reach the kernel ring buffer as ``audit: type=1326`` and the module reads them from ``/dev/kmsg``; with auditd
registered they go to its log as ``type=SECCOMP`` and ``source: auto`` reads that. Either way the module keeps a
cursor, resolves the syscall numbers with libseccomp, and attributes them to the container through its cgroup.
profile_widen admits the workload's calls and refuses the attacks; the enforced profile then blocks the attacks
while the workload's calls pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
from conftest import _auditd_running, run_module

EVENTS = "confine.docker.security_events"
WIDEN = "confine.docker.profile_widen"
IMAGE = "confine-lab/base:bookworm"
# sysinfo and getcpu are the workload; unshare, mount and keyctl the attacks.
WATCHED = ["getcpu", "keyctl", "mount", "sysinfo", "unshare"]
TRIAL = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": WATCHED, "action": "SCMP_ACT_LOG"}]}
PROGRAM = r"""
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    rc = libc.syscall(nr, *args)
    return "%d:%d" % (rc, ctypes.get_errno() if rc < 0 else 0)
work = [call(99, ctypes.create_string_buffer(256)), call(309, 0, 0, 0)]
attacks = [call(272, 0), call(165, 0, 0, 0, 0, 0), call(250, 0, 0)]
print("work=%s attacks=%s" % (",".join(work), ",".join(attacks)), flush=True)
time.sleep(float(sys.argv[1]))
"""


def docker(docker_cli, *args, check=True):
    proc = subprocess.run([docker_cli, *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("docker %s failed: %s" % (" ".join(args), proc.stderr))
    return proc


def wait_output(docker_cli, name, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = docker(docker_cli, "logs", name, check=False).stdout
        if "work=" in out:
            return out.strip()
        time.sleep(0.5)
    raise AssertionError("container %s printed nothing" % name)


def parse_output(text):
    parts = dict(part.split("=", 1) for part in text.split())
    return tuple([item.split(":") for item in parts[key].split(",")] for key in ("work", "attacks"))


@pytest.fixture(autouse=True)
def _audit_state_kept(audit_turn):
    """Where records go (auditd or the kernel log) must not change under these tests."""


@pytest.fixture(autouse=True)
def _local_interpreter(monkeypatch):
    """Run modules with the system python3 (discovery may pick a pyenv shim); it has python3-libapparmor."""
    if "ANSIBLE_PYTHON_INTERPRETER" not in os.environ and os.path.exists("/usr/bin/python3"):
        monkeypatch.setenv("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")


@pytest.fixture
def auditd_in_turn(_audit_state_kept):
    """auditd running, for a test that needs every record: on a busy host the kernel log rate-limits them (the
    test below covers that case). This module's tests hold the turn already (_audit_state_kept)."""
    yield from _auditd_running()


@pytest.fixture
def lab(docker_cli, tmp_path):
    names = []

    def start(profile, sleep=120):
        name = "confine-it-events-%s" % uuid.uuid4().hex[:8]
        names.append(name)
        docker(docker_cli, "run", "-d", "--name", name, "--security-opt", "seccomp=%s" % profile, IMAGE,
               "python3", "-c", PROGRAM, str(sleep))
        return name, wait_output(docker_cli, name)

    yield start
    for name in names:
        docker(docker_cli, "rm", "-f", name, check=False)


def test_collect_widen_enforce_on_the_real_kernel(lab, docker_cli, tmp_path, auditd_in_turn):
    trial = tmp_path / "trial.json"
    trial.write_text(json.dumps(TRIAL))
    before = run_module(EVENTS, {})
    assert not before.get("failed"), before
    assert before["source"] == ("audit" if auditd_registered() else "dmesg"), before["source"]
    assert before["changed"] is False

    name, output = lab(str(trial))
    work, attacks = parse_output(output)
    assert all(rc == "0" for rc, _errno in work), output

    args = {"since": before["cursor"], "containers": [name]}
    collected = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        collected = run_module(EVENTS, args)
        assert not collected.get("failed"), collected
        if {e["syscall"] for e in collected["seccomp"]} >= set(WATCHED):
            break
        time.sleep(1)
    events = {e["syscall"]: e for e in collected["seccomp"]}
    assert set(events) == set(WATCHED), collected["seccomp"]
    for event in events.values():
        assert event["container"] == name and event["arch"] == "x86_64" and event["action"] == "SCMP_ACT_LOG"
        assert event["comm"] == "python3" and event["exe"].startswith("/usr/bin/python3")
    assert events["mount"]["nr"] == 165 and events["unshare"]["nr"] == 272

    # Check mode reads the same; from the new cursor nothing of this container is new.
    assert run_module(EVENTS, args, check_mode=True)["seccomp"] == collected["seccomp"]
    again = run_module(EVENTS, dict(args, since=collected["cursor"]))
    assert again["seccomp"] == [] and again["source"] == collected["source"]

    widened_path = tmp_path / "widened.json"
    widen_args = {"kind": "seccomp", "src": str(trial), "dest": str(widened_path), "events": collected}
    check = run_module(WIDEN, widen_args, check_mode=True)
    assert check["changed"] is True and not widened_path.exists(), check
    widened = run_module(WIDEN, widen_args)
    assert widened["changed"] is True, widened
    assert sorted(item["key"] for item in widened["added"]) == ["getcpu", "sysinfo"]
    refused = {item["key"]: item for item in widened["refused"]}
    assert set(refused) == {"keyctl", "mount", "unshare"}
    assert all(item["category"] == "guard" for item in refused.values())
    assert "| `mount` |" in widened["report"]
    assert run_module(WIDEN, widen_args, check_mode=True)["changed"] is False
    assert run_module(WIDEN, widen_args)["changed"] is False

    # Enforce: what is still only logged is now refused with EPERM.
    profile = json.loads(widened_path.read_text())
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_LOG":
            rule["action"] = "SCMP_ACT_ERRNO"
            rule["errnoRet"] = 1
    enforced = tmp_path / "enforced.json"
    enforced.write_text(json.dumps(profile))
    _name, output = lab(str(enforced), sleep=0)
    work, attacks = parse_output(output)
    assert all(rc == "0" for rc, _errno in work), output
    assert attacks == [["-1", "1"], ["-1", "1"], ["-1", "1"]], output


def auditd_registered():
    proc = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=False)
    status = dict(line.split(None, 1) for line in proc.stdout.splitlines() if " " in line)
    return proc.returncode == 0 and status.get("pid", "0").strip() != "0"


def test_burst_is_complete_or_reported_as_lost(docker_cli, tmp_path):
    """A burst of 300 logged calls: every record arrives, or the module says how many were dropped.

    Without auditd the kernel rate-limits audit records to its log (``kauditd_printk_skb: N callbacks
    suppressed``); with auditd the records are all in its log unless the kernel's backlog overflowed, which the
    ``auditctl -s`` lost counter shows.
    """
    trial = tmp_path / "trial.json"
    trial.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [{"names": ["getcpu"], "action": "SCMP_ACT_LOG"}]}))
    before = run_module(EVENTS, {})
    name = "confine-it-events-burst-%s" % uuid.uuid4().hex[:8]
    burst = ("import ctypes, time\nlibc = ctypes.CDLL(None)\n[libc.syscall(309, 0, 0, 0) for _ in range(300)]\n"
             "time.sleep(5.5)\nlibc.syscall(309, 0, 0, 0)\n")
    try:
        docker(docker_cli, "run", "--rm", "--name", name, "--security-opt", "seccomp=%s" % trial, IMAGE, "python3",
               "-c", burst)
        time.sleep(1)
        after = run_module(EVENTS, {"since": before["cursor"]})
    finally:
        docker(docker_cli, "rm", "-f", name, check=False)
    assert not after.get("failed"), after
    assert after["source"] == before["source"]
    seen = sum(e["count"] for e in after["seccomp"] if e["syscall"] == "getcpu" and e["comm"] == "python3")
    lost = {entry["kind"]: entry for entry in after["lost"]}
    if after["source"] == "dmesg":
        assert "printk-ratelimit" in lost, after["lost"]
        assert lost["printk-ratelimit"]["records"] >= 100
        assert any("callbacks suppressed" in warning for warning in after.get("warnings", [])), after
        assert 0 < seen < 301
    else:
        assert seen == 301 or lost.get("audit-lost", {}).get("records", 0) >= 301 - seen, (seen, after["lost"])


def test_file_source_on_this_host_with_libapparmor_if_present(tmp_path):
    """The module on a copy of an auditd log; the host's python3-libapparmor parses the AppArmor records."""
    fixture = os.path.join(os.path.dirname(__file__), "..", "unit", "fixtures", "events", "audit.log")
    log = tmp_path / "audit.log"
    with open(fixture, "rb") as handle:
        log.write_bytes(handle.read())
    python = os.environ.get("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
    result = run_module(EVENTS, {"source": "file", "paths": [str(log)]})
    assert not result.get("failed"), result
    assert len(result["apparmor"]) == 17 and len(result["seccomp"]) == 5
    has_lib = subprocess.run([python, "-c", "import LibAppArmor"], capture_output=True, check=False).returncode == 0
    if has_lib:
        assert (result["stats"]["libapparmor"], result["stats"]["python"]) == (18, 0)
    else:
        assert result["stats"]["libapparmor"] == 0
