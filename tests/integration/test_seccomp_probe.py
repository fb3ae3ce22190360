"""Proof that the generated ``base: docker_default`` profile is the built-in default profile of the engine it is for.

A small C probe (tests/integration/probe/syscall_probe.c, compiled here with the host's gcc) tries every syscall
number of the architecture with invalid arguments inside a container, once under the engine's built-in default
profile and once under the profile ``confine.docker.seccomp_profile`` generates for that engine's version, for
several capability sets. Every outcome must agree. Calls that would exit, fork, exec or block are not made; the
probe lists them as skipped.

The engine is the one the ``engine`` fixture names: here the host's dockerd (Debian bookworm: Docker 20.10.24);
test_seccomp_probe_vm.py runs the same tests against the dockerd of each lab VM (Debian 12: Docker 20.10.24, Debian
13: Docker 26.1.5), reached over ``lab/vm/ssh``. Its version is read from that dockerd; the profile is rendered for
it (by the module on the host itself, or on this controller with ``engine:`` for a VM).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest
from conftest import run_module
from probe.docker_engine import DockerEngine

from ansible_collections.confine.docker.plugins.module_utils import _libseccomp
from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_SOURCE = os.path.join(HERE, "probe", "syscall_probe.c")
IMAGE = "confine-lab/base:bookworm"
MODULE = "confine.docker.seccomp_profile"
CAP_SETS = {
    "default-caps": [],
    "sys-admin-and-ptrace": ["--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE"],
    "no-caps": ["--cap-drop", "ALL"],
}
EXPECTED_SKIPS = {"exit", "exit_group", "fork", "vfork", "clone", "clone3", "execve", "execveat", "pause",
                  "rt_sigsuspend", "rt_sigreturn"}


pytestmark = pytest.mark.usefixtures("local_interpreter")


@pytest.fixture(scope="module")
def engine(docker_cli):
    """The engine under test, its version read from it."""
    with measured(DockerEngine.local(docker_cli)) as local:
        yield local


@contextlib.contextmanager
def measured(engine):
    """``engine`` with the version and kernel it reports; the files put there are removed afterwards."""
    engine.reported = engine.version()
    engine.kernel_release = engine.kernel()
    engine.probe_runs = {}  # run_probe's outcomes by container arguments
    try:
        yield engine
    finally:
        engine.cleanup()


@pytest.fixture(scope="module")
def probe(tmp_path_factory, engine):
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "the probe needs gcc on the host (apt-get install gcc libc6-dev)"
    out = str(tmp_path_factory.mktemp("probe") / "syscall_probe")
    build = subprocess.run([gcc, "-O2", "-Wall", "-static", "-o", out, PROBE_SOURCE], capture_output=True,
                           text=True, check=False)
    if build.returncode != 0 and engine.is_local:
        # No static libc: the image is bookworm like the host, a dynamic binary runs too (not so in another host).
        build = subprocess.run([gcc, "-O2", "-Wall", "-o", out, PROBE_SOURCE], capture_output=True, text=True,
                               check=False)
    assert build.returncode == 0, build.stderr
    return engine.put(out, mode="0755")


@pytest.fixture(scope="module")
def lib():
    return _libseccomp.load()


@pytest.fixture(scope="module")
def max_nr(lib):
    table = lib.syscall_table("SCMP_ARCH_X86_64", limit=1024)
    # A few numbers past the last one libseccomp knows: newer kernels' calls must agree too.
    return max(table) + 16


def generate(engine, tmp_path_factory, version=None, name="baseline.json"):
    """The module's ``base: docker_default`` profile for ``engine``, as a path its CLI can read, and the result.

    On the host the module asks the engine for its version itself; for another engine (or with ``version``) it
    renders the profile here with ``engine:``, as a controller would, and the file is put where the engine is.
    """
    path = str(tmp_path_factory.mktemp("seccomp") / name)
    args = {"path": path, "base": "docker_default", "mode": "enforce"}
    if version is not None or not engine.is_local:
        args["engine"] = version or engine.reported
    result = run_module(MODULE, args)
    assert not result.get("failed"), result
    assert result["changed"] and result["effective"]["default"] == "SCMP_ACT_ERRNO"
    return engine.put(path), result


@pytest.fixture(scope="module")
def baseline(engine, tmp_path_factory):
    path, result = generate(engine, tmp_path_factory)
    assert result["engine"]["version"] == engine.reported
    assert result["engine"]["source"] == ("host" if engine.is_local else "option")
    assert result["profile"] == sc.generate("docker_default", engine=engine.reported)
    return path


def run_probe(engine, probe, max_nr, args):
    """The probe's outcome per syscall number in a container started with ``args``; the same container arguments on
    the same engine are probed once (several tests compare against the engine's own default)."""
    key = (probe, max_nr, tuple(args))
    if key not in engine.probe_runs:
        engine.probe_runs[key] = _probe_once(engine, probe, max_nr, args)
    return dict(engine.probe_runs[key])


def _probe_once(engine, probe, max_nr, args):
    name = "confine-it-seccomp-probe-%s" % uuid.uuid4().hex[:8]
    try:
        proc = engine.docker_cli("run", "--rm", "--name", name, "--network", "none", *args,
                                 "-v", "%s:/probe:ro" % probe, IMAGE, "/probe", str(max_nr))
    finally:
        engine.docker_cli("rm", "-f", name, timeout=60)
    assert proc.returncode == 0, "%s: %s\n%s" % (engine.name, args, proc.stderr)
    outcomes = {}
    for line in proc.stdout.splitlines():
        nr, outcome = line.split(" ", 1)
        outcomes[int(nr)] = outcome
    assert sorted(outcomes) == list(range(max_nr + 1)), "probe output incomplete:\n%s" % proc.stdout[-2000:]
    return outcomes


def blocked(outcomes):
    return {nr for nr, outcome in outcomes.items() if outcome == "errno 1"}


def label(lib, nr):
    return "%d (%s)" % (nr, lib.resolve_num(nr, "SCMP_ARCH_X86_64") or "?")


@pytest.mark.parametrize("caps", sorted(CAP_SETS))
def test_generated_baseline_agrees_with_docker_default(engine, probe, max_nr, baseline, lib, caps):
    extra = CAP_SETS[caps]
    builtin = run_probe(engine, probe, max_nr, extra)
    generated = run_probe(engine, probe, max_nr, [*extra, "--security-opt", "seccomp=%s" % baseline])

    skipped = {lib.resolve_num(nr, "SCMP_ARCH_X86_64") for nr, o in builtin.items() if o == "skip"}
    assert skipped == EXPECTED_SKIPS
    only_builtin = sorted(blocked(builtin) - blocked(generated))
    only_generated = sorted(blocked(generated) - blocked(builtin))
    assert not only_builtin and not only_generated, (
        "Docker %s: allow/deny outcomes differ: blocked only by its default: %s; only by the generated profile: %s"
        % (engine.reported, [label(lib, n) for n in only_builtin], [label(lib, n) for n in only_generated])
    )
    differ = {label(lib, nr): (builtin[nr], generated[nr]) for nr in builtin if builtin[nr] != generated[nr]}
    assert not differ, "Docker %s: outcomes differ: %s" % (engine.reported, differ)


def test_probe_sees_seccomp(engine, probe, max_nr, lib):
    """The comparison means something: Docker's default blocks calls that run (or fail otherwise) unconfined.

    (Not ``kexec_load``: Linux 6.12 checks CAP_SYS_BOOT before the arguments, so it fails with EPERM unconfined too.)
    """
    builtin = run_probe(engine, probe, max_nr, [])
    unconfined = run_probe(engine, probe, max_nr, ["--security-opt", "seccomp=unconfined"])
    by_seccomp = {lib.resolve_num(nr, "SCMP_ARCH_X86_64") for nr in blocked(builtin) - blocked(unconfined)}
    expected = {"keyctl", "add_key", "request_key", "uselib", "personality"}
    outcomes = {name: (builtin[nr], unconfined[nr]) for nr in builtin
                if (name := lib.resolve_num(nr, "SCMP_ARCH_X86_64")) in expected - by_seccomp}
    assert not outcomes, "Docker %s, kernel %s: (default, unconfined) outcomes: %s" % (
        engine.reported, engine.kernel_release, outcomes)
    # Dozens of calls (50 on Linux 6.12, more on 6.1, where fewer of them fail for want of a capability anyway).
    assert len(by_seccomp) > 40, sorted(by_seccomp)


def test_probe_tells_engine_versions_apart(engine, probe, max_nr, lib, tmp_path_factory):
    """Another engine's description differs from this engine's default exactly where the descriptions differ.

    On Docker 20.10 the profile of 26.1.5 (no io_uring; cachestat, name_to_handle_at, pkey_* ...), on a later engine
    the profile of 20.10.24: the probe sees io_uring change, and nothing the descriptions do not predict. runc answers
    a call numbered above the highest one the filter names with ENOSYS instead of the default errno (so that the C
    library falls back), so a call neither profile allows can differ too when it lies between their highest numbers
    (set_mempolicy_home_node, 450: ENOSYS under 20.10's profile, EPERM under 26.1's).
    """
    own = sc.effective_policy(sc.docker_default_profile(engine.reported), (), "x86_64", engine.kernel_release)
    other_version = "26.1.5" if "io_uring_setup" in own["allow"] else "20.10.24"
    other_path, _result = generate(engine, tmp_path_factory, version=other_version, name="other.json")
    other = sc.effective_policy(sc.docker_default_profile(other_version), (), "x86_64", engine.kernel_release)

    def highest(policy):
        numbers = [lib.resolve_name(n, "SCMP_ARCH_X86_64") for rule in policy["rules"] for n in rule["names"]]
        return max(n for n in numbers if n >= 0)

    low, high = sorted((highest(own), highest(other)))
    between = {lib.resolve_num(nr, "SCMP_ARCH_X86_64") for nr in range(low + 1, high + 1)}
    predicted = (own["allow"] ^ other["allow"]) | (between - own["allow"] - other["allow"])

    builtin = run_probe(engine, probe, max_nr, [])
    generated = run_probe(engine, probe, max_nr, ["--security-opt", "seccomp=%s" % other_path])
    seen = {lib.resolve_num(nr, "SCMP_ARCH_X86_64") for nr in builtin if builtin[nr] != generated[nr]}
    assert {"io_uring_setup", "io_uring_enter", "io_uring_register"} <= seen
    assert seen <= predicted, "differences the descriptions do not predict: %s" % sorted(seen - predicted)


def _runtime_config(engine, container_id):
    paths = ["/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/%s/config.json" % container_id,
             "/run/containerd/io.containerd.runtime.v2.task/moby/%s/config.json" % container_id]
    proc = engine.shell(" || ".join("cat %s 2>/dev/null" % path for path in paths), timeout=60)
    assert proc.returncode == 0, "no runtime bundle for %s on %s" % (container_id, engine.name)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("caps", sorted(CAP_SETS))
def test_docker_default_rules_equal_what_docker_gives_runc(engine, caps):
    """For a running container, the engine's resolved default profile equals the description of its version filtered
    the way Docker does."""
    name = "confine-it-seccomp-cfg-%s" % uuid.uuid4().hex[:8]
    run = engine.docker_cli("run", "-d", "--name", name, "--network", "none", *CAP_SETS[caps], IMAGE, "sleep", "30")
    try:
        assert run.returncode == 0, run.stderr
        config = _runtime_config(engine, run.stdout.strip())
    finally:
        engine.docker_cli("rm", "-f", name, timeout=60)
    seccomp = config["linux"]["seccomp"]
    bounding = config["process"]["capabilities"].get("bounding", [])
    described = sc.docker_default_profile(engine.reported)
    policy = sc.effective_policy(described, bounding, "x86_64", engine.kernel_release)
    assert policy["rules"] == [dict(r, names=sorted(r["names"])) for r in seccomp["syscalls"]]
    assert policy["architectures"] == seccomp["architectures"]
    assert seccomp.get("defaultErrnoRet") == described.get("defaultErrnoRet")


def test_an_engine_reached_through_a_shell_prefix(docker_cli):
    """The remote code path (one shell command line through a prefix, files put where the CLI runs), taken on this
    host with ``sh -c`` in place of ``lab/vm/ssh HOST --``."""
    local = DockerEngine.local(docker_cli)
    remote = DockerEngine.remote(["sh", "-c"], docker=local.docker, name="sh -c")
    assert remote.version() == local.version()
    with tempfile.TemporaryDirectory() as directory:
        source = os.path.join(directory, "it's here.json")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write('{"a": "quote \' and $HOME"}\n')
        put = remote.put(source)
        try:
            assert put != source and remote.run("cat", put).stdout == '{"a": "quote \' and $HOME"}\n'
            assert oct(os.stat(put).st_mode & 0o777) == "0o644"
        finally:
            remote.cleanup()
        assert not os.path.exists(put)
