"""confine.docker.seccomp_profile on this host, and its profiles under the host's real dockerd and kernel.

- The module through ansible-playbook: check mode, real run, check mode again, real run again (changed, changed,
  not changed, not changed), byte-identical file; a malformed profile fails with line and column and leaves the old
  file; an unknown syscall is refused through the host's libseccomp.
- Enforce without mkdir/mkdirat: ``mkdir`` in a container fails with "Operation not permitted" and the rest of the
  workload runs; the container's init shows ``Seccomp: 2``.
- The log-mode trial of the same profile: the workload succeeds and ``type=1326`` records name the call.
- ``base: docker_default`` follows the host's engine (asked by the module) unless ``engine:`` pins one.
- A least-privilege profile that allows ``clone`` but not ``clone3`` starts threads: ``clone3`` is answered with
  ENOSYS, so glibc falls back to ``clone`` (with EPERM, thread creation fails).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid

import pytest
from conftest import run_module

from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc

MODULE = "confine.docker.seccomp_profile"
IMAGE = "confine-lab/base:bookworm"


pytestmark = pytest.mark.usefixtures("local_interpreter")


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """The enforce profile and its log-mode trial, both written by the module."""
    directory = tmp_path_factory.mktemp("seccomp")
    paths = {}
    for mode in ("enforce", "log"):
        path = str(directory / ("no-mkdir-%s.json" % mode))
        result = run_module(MODULE, {"path": path, "base": "docker_default", "mode": mode,
                                     "deny": ["mkdir", "mkdirat"]})
        assert not result.get("failed") and result["changed"], result
        paths[mode] = path
    return paths


def docker(docker_cli, *args, check=True, timeout=120):
    proc = subprocess.run([docker_cli, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("docker %s failed (rc=%d): %s" % (" ".join(args), proc.returncode, proc.stderr))
    return proc


def container_name(what):
    return "confine-it-seccomp-%s-%s" % (what, uuid.uuid4().hex[:8])


WORKLOAD = (
    "cp /bin/mkdir /tmp/{tag}; "
    "/tmp/{tag} /tmp/made && echo mkdir-ok || echo mkdir-failed; "
    "ls / > /dev/null && echo ls-ok; "
    "python3 -c 'import os; print(\"python-ok\", os.getpid() > 0)'; "
    "echo data > /tmp/file && cat /tmp/file"
)


def run_workload(docker_cli, profile, tag):
    name = container_name("wl")
    try:
        return docker(docker_cli, "run", "--rm", "--name", name, "--network", "none",
                      "--security-opt", "seccomp=%s" % profile, IMAGE, "sh", "-c", WORKLOAD.format(tag=tag),
                      check=False)
    finally:
        docker(docker_cli, "rm", "-f", name, check=False)


def test_check_real_check_real(tmp_path, docker_cli):
    path = tmp_path / "seccomp" / "app.json"
    args = {"path": str(path), "base": "docker_default", "mode": "enforce", "drop_groups": ["io_uring", "sysv_ipc"],
            "deny": ["mkdir"], "backup": True}

    first = run_module(MODULE, args, check_mode=True, diff=True)
    assert not first.get("failed") and first["changed"], first
    assert not path.exists()
    assert json.loads(first["diff"]["after"]) == first["profile"]

    host_engine = subprocess.run([docker_cli, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    assert first["engine"]["version"] == host_engine and first["engine"]["source"] == "host"

    second = run_module(MODULE, args)
    assert second["changed"] and path.exists()
    text = path.read_text()
    assert json.loads(text) == first["profile"]
    assert second["allow_count"] == first["allow_count"] and second["allow_count"] > 300
    assert "io_uring_setup" not in text and '"mkdir"' not in text

    third = run_module(MODULE, args, check_mode=True, diff=True)
    assert third["changed"] is False
    fourth = run_module(MODULE, args)
    assert fourth["changed"] is False
    assert path.read_text() == text


def test_malformed_profile_fails_and_leaves_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("keep me\n")
    bad = '{\n  "defaultAction": "SCMP_ACT_ERRNO",\n  "syscalls": [\n    {"names": ["read"], "args::[]}\n  ]\n}\n'
    result = run_module(MODULE, {"path": str(path), "content": bad})
    assert result["failed"] and "line 4 column" in result["msg"], result
    assert path.read_text() == "keep me\n"
    unknown = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["read", "mkdri"], "action": "SCMP_ACT_ALLOW"}]}
    result = run_module(MODULE, {"path": str(path), "content": unknown})
    assert result["failed"] and "'mkdri' is not a syscall" in result["msg"] and "libseccomp" in result["msg"]
    assert result["json_path"] == "syscalls[0].names[1]"
    assert sorted(os.listdir(tmp_path)) == ["p.json"]


def test_enforce_blocks_mkdir_and_the_rest_runs(docker_cli, profiles):
    proc = run_workload(docker_cli, profiles["enforce"], "confine-mkdir-enf")
    out = proc.stdout + proc.stderr
    assert "Operation not permitted" in out and "mkdir-failed" in out, out
    for marker in ("ls-ok", "python-ok True", "data"):
        assert marker in proc.stdout, out


def test_log_mode_runs_and_records(docker_cli, profiles, auditd):
    tag = "cfmk-%s" % uuid.uuid4().hex[:6]
    proc = run_workload(docker_cli, profiles["log"], tag)
    assert "mkdir-ok" in proc.stdout and "ls-ok" in proc.stdout, proc.stdout + proc.stderr
    # With auditd (the fixture runs it, as on a real host) the records reach audit.log as type=SECCOMP; the kernel
    # log ("audit: type=1326") is read too, for a host whose auditd is not the fixture's.
    pattern = re.compile(r"type=(?:1326|SECCOMP) .*exe=\"/tmp/%s\".*syscall=(\d+)" % tag)
    found = []
    for _attempt in range(10):
        logs = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
        if os.path.exists("/var/log/audit/audit.log"):
            with open("/var/log/audit/audit.log", encoding="utf-8", errors="replace") as handle:
                logs += handle.read()
        found = [int(m.group(1)) for m in pattern.finditer(logs)]
        if found:
            break
        time.sleep(0.5)
    assert found, "no seccomp log record for /tmp/%s" % tag
    assert set(found) <= {83, 258}  # mkdir, mkdirat on x86_64: only the calls enforce would refuse are logged


def test_least_privilege_profile_runs_workload(docker_cli, tmp_path):
    """The runtime's minimum plus what /bin/sh, ls and cat use is enough; mkdir, left out, is refused."""
    path = str(tmp_path / "lp.json")
    observed = ["openat", "read", "write", "close", "fstat", "newfstatat", "getdents64", "ioctl", "statx",
                "lseek", "rt_sigaction", "rt_sigprocmask", "getuid", "geteuid", "getgid", "getegid", "getpid",
                "getppid", "wait4", "vfork", "fcntl", "dup2", "uname", "pipe2", "access", "faccessat", "sysinfo",
                "lstat", "stat", "mmap", "mprotect", "munmap", "brk", "pread64", "prlimit64", "getrandom"]
    script = "ls / > /dev/null && echo ls-ok; cat /etc/hostname > /dev/null && echo cat-ok; mkdir /tmp/nope"
    result = run_module(MODULE, {"path": path, "base": "runtime_minimum", "mode": "enforce", "allow": observed})
    assert not result.get("failed") and result["changed"], result
    name = container_name("lp")
    try:
        proc = docker(docker_cli, "run", "--rm", "--name", name, "--network", "none", "--security-opt",
                      "seccomp=%s" % path, IMAGE, "sh", "-c", script, check=False)
    finally:
        docker(docker_cli, "rm", "-f", name, check=False)
    assert "ls-ok" in proc.stdout and "cat-ok" in proc.stdout, proc.stdout + proc.stderr
    assert "Operation not permitted" in proc.stderr


def test_container_init_is_filtered(docker_cli, profiles):
    name = container_name("status")
    docker(docker_cli, "run", "-d", "--name", name, "--network", "none", "--security-opt",
           "seccomp=%s" % profiles["enforce"], IMAGE, "sleep", "60")
    try:
        pid = docker(docker_cli, "inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        with open("/proc/%s/status" % pid, encoding="utf-8") as handle:
            status = handle.read()
    finally:
        docker(docker_cli, "rm", "-f", name, check=False)
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status


def test_engine_option_pins_another_engine(tmp_path, docker_cli):
    """On this host (Docker 20.10) the profile of Docker 26.1 is the pinned engine's: no io_uring, cachestat."""
    path = tmp_path / "pinned.json"
    result = run_module(MODULE, {"path": str(path), "engine": "26.1"})
    assert not result.get("failed") and result["engine"]["source"] == "option", result
    text = path.read_text()
    assert "io_uring_setup" not in text and '"cachestat"' in text and result["engine"]["described"] == "26.1"
    bad = run_module(MODULE, {"path": str(path), "engine": "19.03.15"})
    assert bad["failed"] and "older than 20.10" in bad["msg"] and path.read_text() == text


THREADS = "import threading; t = threading.Thread(target=print, args=('thread-ok',)); t.start(); t.join()"


@pytest.mark.parametrize(("deny", "started"), [([], True), (["clone3"], False)])
def test_least_privilege_profile_starts_threads(docker_cli, tmp_path, deny, started):
    """What an application is seen to call under Docker's default includes clone, not clone3 (Docker answers clone3
    with ENOSYS and glibc falls back): such a least-privilege profile must start threads. Denying clone3 (EPERM,
    the default action) shows the fallback is what makes it work."""
    path = str(tmp_path / "threads.json")
    observed = [*sc.docker_default_profile()["syscalls"][0]["names"], "clone"]
    result = run_module(MODULE, {"path": path, "base": "runtime_minimum", "allow": observed, "deny": deny})
    assert not result.get("failed"), result
    name = container_name("threads")
    try:
        proc = docker(docker_cli, "run", "--rm", "--name", name, "--network", "none", "--security-opt",
                      "seccomp=%s" % path, IMAGE, "python3", "-c", THREADS, check=False)
    finally:
        docker(docker_cli, "rm", "-f", name, check=False)
    if started:
        assert proc.returncode == 0 and "thread-ok" in proc.stdout, proc.stdout + proc.stderr
    else:
        assert proc.returncode != 0 and "can't start new thread" in proc.stderr, proc.stdout + proc.stderr


def test_a_profile_refused_as_unstartable_really_cannot_start_a_container(docker_cli, tmp_path):
    path = str(tmp_path / "no-execve.json")
    refused = run_module(MODULE, {"path": path, "base": "runtime_minimum", "deny": ["execve"]})
    assert refused.get("failed") and "cannot start a container" in refused["msg"] and "execve" in refused["msg"]
    assert not os.path.exists(path)
    forced = run_module(MODULE, {"path": path, "base": "runtime_minimum", "deny": ["execve"], "force": True})
    assert not forced.get("failed") and forced["changed"], forced
    name = container_name("unstartable")
    try:
        proc = docker(docker_cli, "run", "--rm", "--name", name, "--network", "none", "--security-opt",
                      "seccomp=%s" % path, IMAGE, "true", check=False)
    finally:
        docker(docker_cli, "rm", "-f", name, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
