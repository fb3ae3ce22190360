"""confine.docker.container_verify and the verify role against the host's real dockerd and kernel.

This kernel enforces seccomp but has no AppArmor, so AppArmor is covered in test_verify_vm.py. Here: a hardened
container (custom seccomp file + no-new-privileges, the demo app answering on a published port) passes; a container
with ``seccomp=unconfined``, one with an undeclared ``--cap-add`` and one without ``no-new-privileges`` are caught,
from Docker's configuration and from the kernel (/proc/<pid>/status).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import ROOT, ansible_playbook, run_module

MODULE = "confine.docker.container_verify"
BASE = "confine-lab/base:bookworm"
DEMO = "confine-lab/demo:latest"
GOOD = "confine-it-verify-good"
UNCONFINED = "confine-it-verify-unconfined"
CAPADD = "confine-it-verify-capadd"
NONNP = "confine-it-verify-nonnp"
PYTHON = ["-e", "ansible_python_interpreter=" + sys.executable]
SECCOMP = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mount", "umount2", "kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
WORKLOAD = ["/usr/local/bin/demo-workload"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def verify(containers, check_mode=False, **args):
    return run_module(MODULE, {"containers": containers, **args}, check_mode=check_mode, extra_args=PYTHON)


def checks(result, index=0):
    return {c["check"]: c for c in result["results"][index]["checks"]}


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)"
        proc = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, check=False)
        if proc.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("%s did not answer" % url)


@pytest.fixture(scope="module")
def lab(docker_cli):
    """Four containers on the host dockerd and a seccomp directory holding the hardened one's profile."""
    workdir = tempfile.mkdtemp(prefix="confine-it-verify-")
    seccomp_dir = os.path.join(workdir, "seccomp")
    os.makedirs(seccomp_dir)
    # The role's file name (confine-<name>.json), written indented: the container holds the compact JSON.
    profile = os.path.join(seccomp_dir, "confine-%s.json" % GOOD)
    with open(profile, "w", encoding="utf-8") as handle:
        json.dump(SECCOMP, handle, indent=4)
    port = free_port()
    names = (GOOD, UNCONFINED, CAPADD, NONNP)
    subprocess.run([docker_cli, "rm", "-f", *names], capture_output=True, check=False)
    runs = {
        GOOD: ["--security-opt", "seccomp=" + profile, "--security-opt", "no-new-privileges",
               "-p", "127.0.0.1:%d:80" % port, DEMO],
        UNCONFINED: ["--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges",
                     BASE, "sleep", "infinity"],
        CAPADD: ["--security-opt", "seccomp=" + profile, "--security-opt", "no-new-privileges", "--cap-add",
                 "NET_ADMIN", BASE, "sleep", "infinity"],
        NONNP: ["--security-opt", "seccomp=" + profile, BASE, "sleep", "infinity"],
    }
    try:
        for name, args in runs.items():
            # As the runbook runs containers: without CAP_AUDIT_WRITE (the confine.docker.cap_drop filter).
            subprocess.run([docker_cli, "run", "-d", "--name", name, "--cap-drop", "AUDIT_WRITE", *args],
                           capture_output=True, text=True, check=True)
        url = "http://127.0.0.1:%d/" % port
        wait_http(url)
        yield {"dir": workdir, "seccomp_dir": seccomp_dir, "profile": profile, "url": url}
    finally:
        subprocess.run([docker_cli, "rm", "-f", *names], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def good(lab):
    return {
        "name": GOOD,
        "seccomp": lab["profile"],
        "capabilities": {"add": [], "drop": ["AUDIT_WRITE"]},
        "workload": [WORKLOAD, "python3 -c 'import os; assert os.path.isdir(\"/var/lib/demo\")'"],
        "health": {"url": lab["url"]},
    }


def test_hardened_container_passes_in_check_mode_and_for_real(lab):
    first = verify([good(lab)], check_mode=True)
    assert not first.get("failed") and first["changed"] is False, first
    assert first["passed"] is True and first["failed_checks"] == [], first
    found = checks(first)
    assert found["seccomp"]["actual"] == "same profile as %s" % lab["profile"]
    assert found["seccomp_kernel"]["actual"] == "2 (filter)"
    assert found["no_new_privileges_kernel"]["actual"] == "1"
    assert found["health"]["actual"] == 200
    assert found["workload[0]"]["detail"] == "/usr/local/bin/demo-workload"
    second = verify([good(lab)])
    assert second["changed"] is False and second["passed"] is True
    assert second["results"] == first["results"]


def test_weakened_containers_are_caught(lab):
    declared = {"capabilities": {"add": [], "drop": ["AUDIT_WRITE"]}}
    result = verify(
        [
            dict(declared, name=UNCONFINED, seccomp="docker-default"),
            dict(declared, name=CAPADD, seccomp=lab["profile"]),
            dict(declared, name=NONNP, seccomp=lab["profile"]),
        ]
    )
    assert not result.get("failed") and result["passed"] is False, result
    assert result["failed_checks"] == [
        "%s: seccomp" % UNCONFINED,
        "%s: seccomp_kernel" % UNCONFINED,
        "%s: capabilities" % CAPADD,
        "%s: capabilities_kernel" % CAPADD,
        "%s: no_new_privileges" % NONNP,
        "%s: no_new_privileges_kernel" % NONNP,
    ]
    assert checks(result, 0)["seccomp_kernel"]["actual"] == "0 (disabled)"
    assert checks(result, 1)["capabilities"]["detail"] == "added but not declared: NET_ADMIN"
    assert "NET_ADMIN" in checks(result, 1)["capabilities_kernel"]["actual"]
    assert checks(result, 2)["no_new_privileges_kernel"]["actual"] == "0"
    # The same file given to a container started with another profile: compared as data, it differs.
    other = verify([{"name": UNCONFINED, "seccomp": lab["profile"], "no_new_privileges": False}])
    assert other["failed_checks"] == ["%s: seccomp" % UNCONFINED, "%s: seccomp_kernel" % UNCONFINED]


def test_declared_capability_passes_and_mismatch_can_fail_the_task(lab):
    declared = {"name": CAPADD, "seccomp": lab["profile"],
                "capabilities": {"add": ["cap_net_admin"], "drop": ["cap_audit_write"]}}
    assert verify([declared])["passed"] is True
    strict = verify([dict(declared, capabilities={})], fail_on_mismatch=True)
    assert strict["failed"] is True
    assert strict["msg"] == "verification failed: %s: capabilities; %s: capabilities_kernel" % (CAPADD, CAPADD)
    assert strict["results"][0]["passed"] is False


def test_broken_application_and_missing_container_are_caught(lab):
    result = verify(
        [
            dict(good(lab), workload=[["sh", "-c", "echo broken >&2; exit 4"]], health={"url": lab["url"] + "nope"}),
            {"name": "confine-it-verify-absent", "seccomp": "docker-default"},
        ]
    )
    assert result["failed_checks"] == [
        "%s: workload[0]" % GOOD, "%s: health" % GOOD, "confine-it-verify-absent: exists"
    ]
    assert checks(result)["workload[0]"]["detail"] == "sh -c 'echo broken >&2; exit 4' exited 4: broken"
    assert checks(result)["health"]["actual"] == 404


def test_bad_input_is_refused(lab):
    result = verify([{"name": GOOD, "seccomp": "relative.json"}])
    assert result["failed"] is True and "'seccomp' must be an absolute path" in result["msg"]


# --- the role and playbooks/verify.yml ---------------------------------------------------------------------------


def playbook(lab, containers, *extra):
    variables = {
        "confine_hosts": "localhost",
        "confine_apparmor": False,
        "confine_seccomp_dir": lab["seccomp_dir"],
        "confine_state_dir": os.path.join(lab["dir"], "state"),
        "confine_containers": containers,
        "verify_report_dir": os.path.join(lab["dir"], "reports"),
    }
    varfile = os.path.join(lab["dir"], "vars.json")
    with open(varfile, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    os.makedirs(variables["verify_report_dir"], exist_ok=True)
    proc = ansible_playbook("-i", "localhost,", "-c", "local", *PYTHON, "-e", "@" + varfile,
                            os.path.join(ROOT, "playbooks", "verify.yml"), *extra, check=False)
    with open(os.path.join(variables["verify_report_dir"], "localhost.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    return proc, report


def recap(proc):
    line = [row for row in proc.stdout.splitlines() if row.startswith("localhost ") and "ok=" in row][-1]
    return dict(field.split("=") for field in line.split(":", 1)[1].split())


INVENTORY_GOOD = {
    "name": GOOD,
    "image": DEMO,
    "workload": {"commands": [WORKLOAD]},
}


def test_playbook_passes_read_only_and_in_check_mode(lab):
    container = dict(INVENTORY_GOOD, health={"url": lab["url"]})
    proc, report = playbook(lab, [container])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The one change is the new report file on the controller; the managed host is only read.
    assert recap(proc)["changed"] == "1"
    report_task = proc.stdout.split("Write the report on the controller", 1)[1].split("TASK [", 1)[0]
    assert "changed: [localhost" in report_task
    assert report["passed"] is True and report["failed_checks"] == []
    names = [c["check"] for c in report["results"][0]["checks"]]
    assert names == ["exists", "running", "seccomp", "seccomp_kernel", "privileged", "no_new_privileges",
                     "no_new_privileges_kernel", "capabilities", "capabilities_kernel", "workload[0]", "health"]
    rerun, same = playbook(lab, [container])
    assert rerun.returncode == 0 and recap(rerun)["changed"] == "0", rerun.stdout
    checked, again = playbook(lab, [container], "--check")
    assert checked.returncode == 0 and recap(checked)["changed"] == "0", checked.stdout
    assert same["results"] == again["results"] == report["results"]
    assert not os.path.exists(os.path.join(lab["dir"], "state"))


def test_playbook_fails_the_host_and_lists_the_failed_checks(lab):
    containers = [
        dict(INVENTORY_GOOD, health={"command": ["test", "-d", "/var/lib/demo"]}),
        {"name": CAPADD, "image": BASE},
        {"name": UNCONFINED, "image": BASE},
    ]
    proc, report = playbook(lab, containers)
    assert proc.returncode != 0
    assert recap(proc)["failed"] == "1"
    # CAPADD and UNCONFINED have no confine-<name>.json in the seccomp directory: their seccomp check fails too.
    assert report["failed_checks"] == [
        "%s: seccomp" % CAPADD,
        "%s: capabilities" % CAPADD,
        "%s: capabilities_kernel" % CAPADD,
        "%s: seccomp" % UNCONFINED,
        "%s: seccomp_kernel" % UNCONFINED,
    ]
    assert "confinement verification failed on localhost: %s: seccomp;" % CAPADD in proc.stdout
    assert report["results"][0]["passed"] is True


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"confine_containers": [{"name": GOOD}]}, "image"),
        ({"confine_containers": [{"name": GOOD, "image": DEMO}], "verify_apparmor_mode": "audit"}, "audit"),
        ({"confine_containers": [{"name": GOOD, "image": DEMO}, {"name": GOOD, "image": DEMO}]}, "more than once"),
    ],
)
def test_role_refuses_a_bad_inventory_before_checking(lab, variables, message):
    proc = ansible_playbook("-i", "localhost,", "-c", "local", *PYTHON, "-e",
                            json.dumps(dict(variables, confine_hosts="localhost")),
                            os.path.join(ROOT, "playbooks", "verify.yml"), check=False)
    assert proc.returncode != 0 and message in proc.stdout
    assert "Verify each container's confinement" not in proc.stdout
