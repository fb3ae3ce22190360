"""Proof that the generated ``base: docker_default`` profile is Docker's built-in default profile.

A small C probe (tests/integration/probe/syscall_probe.c, compiled here with the host's gcc) tries every syscall
number of the architecture with invalid arguments inside a container, once under Docker's built-in default profile
and once under the profile ``confine.docker.seccomp_profile`` generates, for several capability sets. Every outcome
must agree. Calls that would exit, fork, exec or block are not made; the probe lists them as skipped.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import uuid

import pytest
from conftest import run_module

from ansible_collections.confine.docker.plugins.module_utils import _libseccomp
from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_SOURCE = os.path.join(HERE, "probe", "syscall_probe.c")
IMAGE = "confine-lab/base:bookworm"
CAP_SETS = {
    "default-caps": [],
    "sys-admin-and-ptrace": ["--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE"],
    "no-caps": ["--cap-drop", "ALL"],
}
EXPECTED_SKIPS = {"exit", "exit_group", "fork", "vfork", "clone", "clone3", "execve", "execveat", "pause",
                  "rt_sigsuspend", "rt_sigreturn"}


pytestmark = pytest.mark.usefixtures("local_interpreter")


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "the probe needs gcc on the host (apt-get install gcc libc6-dev)"
    out = str(tmp_path_factory.mktemp("probe") / "syscall_probe")
    build = subprocess.run([gcc, "-O2", "-Wall", "-static", "-o", out, PROBE_SOURCE], capture_output=True,
                           text=True, check=False)
    if build.returncode != 0:  # no static libc: the image is bookworm like the host, a dynamic binary runs too
        build = subprocess.run([gcc, "-O2", "-Wall", "-o", out, PROBE_SOURCE], capture_output=True, text=True,
                               check=False)
    assert build.returncode == 0, build.stderr
    return out


@pytest.fixture(scope="module")
def lib():
    return _libseccomp.load()


@pytest.fixture(scope="module")
def max_nr(lib):
    table = lib.syscall_table("SCMP_ARCH_X86_64", limit=1024)
    # A few numbers past the last one libseccomp knows: newer kernels' calls must agree too.
    return max(table) + 16


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("seccomp") / "baseline.json")
    result = run_module("confine.docker.seccomp_profile", {"path": path, "base": "docker_default", "mode": "enforce"})
    assert not result.get("failed"), result
    assert result["changed"] and result["effective"]["default"] == "SCMP_ACT_ERRNO"
    return path


def run_probe(docker, probe, max_nr, args):
    name = "confine-it-seccomp-probe-%s" % uuid.uuid4().hex[:8]
    cmd = [docker, "run", "--rm", "--name", name, "--network", "none", *args,
           "-v", "%s:/probe:ro" % probe, IMAGE, "/probe", str(max_nr)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    finally:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)
    assert proc.returncode == 0, "%s\n%s" % (cmd, proc.stderr)
    outcomes = {}
    for line in proc.stdout.splitlines():
        nr, outcome = line.split(" ", 1)
        outcomes[int(nr)] = outcome
    assert sorted(outcomes) == list(range(max_nr + 1)), "probe output incomplete:\n%s" % proc.stdout[-2000:]
    return outcomes


def blocked(outcomes):
    return {nr for nr, outcome in outcomes.items() if outcome == "errno 1"}


@pytest.mark.parametrize("caps", sorted(CAP_SETS))
def test_generated_baseline_agrees_with_docker_default(docker_cli, probe, max_nr, baseline, lib, caps):
    extra = CAP_SETS[caps]
    builtin = run_probe(docker_cli, probe, max_nr, extra)
    generated = run_probe(docker_cli, probe, max_nr, [*extra, "--security-opt", "seccomp=%s" % baseline])

    def label(nr):
        return "%d (%s)" % (nr, lib.resolve_num(nr, "SCMP_ARCH_X86_64") or "?")

    skipped = {lib.resolve_num(nr, "SCMP_ARCH_X86_64") for nr, o in builtin.items() if o == "skip"}
    assert skipped == EXPECTED_SKIPS
    only_builtin = sorted(blocked(builtin) - blocked(generated))
    only_generated = sorted(blocked(generated) - blocked(builtin))
    assert not only_builtin and not only_generated, (
        "allow/deny outcomes differ: blocked only by Docker's default: %s; only by the generated profile: %s"
        % ([label(n) for n in only_builtin], [label(n) for n in only_generated])
    )
    differ = {label(nr): (builtin[nr], generated[nr]) for nr in builtin if builtin[nr] != generated[nr]}
    assert not differ, "outcomes differ: %s" % differ


def test_probe_sees_seccomp(docker_cli, probe, max_nr, lib):
    """The comparison means something: Docker's default blocks calls that run (or fail otherwise) unconfined."""
    builtin = run_probe(docker_cli, probe, max_nr, [])
    unconfined = run_probe(docker_cli, probe, max_nr, ["--security-opt", "seccomp=unconfined"])
    by_seccomp = {lib.resolve_num(nr, "SCMP_ARCH_X86_64") for nr in blocked(builtin) - blocked(unconfined)}
    assert {"keyctl", "add_key", "request_key", "kexec_load", "uselib", "personality"} <= by_seccomp
    assert len(by_seccomp) > 50


def _runtime_config(container_id):
    pattern = "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/%s/config.json" % container_id
    found = glob.glob(pattern) or glob.glob("/run/containerd/io.containerd.runtime.v2.task/moby/%s/config.json"
                                            % container_id)
    assert found, "no runtime bundle for %s" % container_id
    with open(found[0], encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("caps", sorted(CAP_SETS))
def test_docker_default_rules_equal_what_docker_gives_runc(docker_cli, caps):
    """For a running container, Docker's resolved default profile equals our data filtered the way Docker does."""
    name = "confine-it-seccomp-cfg-%s" % uuid.uuid4().hex[:8]
    run = subprocess.run([docker_cli, "run", "-d", "--name", name, "--network", "none", *CAP_SETS[caps], IMAGE,
                          "sleep", "30"], capture_output=True, text=True, check=False)
    try:
        assert run.returncode == 0, run.stderr
        config = _runtime_config(run.stdout.strip())
    finally:
        subprocess.run([docker_cli, "rm", "-f", name], capture_output=True, check=False)
    seccomp = config["linux"]["seccomp"]
    bounding = config["process"]["capabilities"].get("bounding", [])
    policy = sc.effective_policy(sc.docker_default_profile(), bounding, "x86_64", os.uname().release)
    assert policy["rules"] == [dict(r, names=sorted(r["names"])) for r in seccomp["syscalls"]]
    assert policy["architectures"] == seccomp["architectures"]
