"""Docker's default seccomp profile per engine version: the project's description against Moby's published profiles.

The description is 20.10.24's profile plus the changes in _seccomp_docker_versions.py. For every version in
CHECKED_AGAINST it must mean the same as Moby's ``default.json`` of that release (reference data in
/work/shared/reference/docker-seccomp/, or the directory $CONFINE_DOCKER_SECCOMP_REFERENCE names): the same default
action and errno, the same archMap, and per condition (action, errno, argument filters, includes, excludes) the same
set of syscall names. Layout (rule order, how names are split between rules) does not matter.
"""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import threading

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc
from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker as dd
from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker_versions as dv

REFERENCE = os.environ.get("CONFINE_DOCKER_SECCOMP_REFERENCE", "/work/shared/reference/docker-seccomp")
needs_reference = pytest.mark.skipif(
    not os.path.isdir(REFERENCE),
    reason="Moby's published default.json files are not here (%s; set CONFINE_DOCKER_SECCOMP_REFERENCE)" % REFERENCE,
)


def reference(version):
    with open(os.path.join(REFERENCE, version + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def _gate(value):
    value = value or {}
    return json.dumps({key: sorted(v) if isinstance(v, list) else v for key, v in value.items() if v},
                      sort_keys=True)


def semantics(profile):
    """What a profile means to Docker, independent of layout: names per condition, default, errno, archMap."""
    profile = sc.parse_profile(profile, check_names=False)
    rules = {}
    for rule in profile["syscalls"]:
        key = (
            rule["action"],
            rule.get("errnoRet"),
            json.dumps(sorted(json.dumps(arg, sort_keys=True) for arg in rule.get("args", []))),
            _gate(rule.get("includes")),
            _gate(rule.get("excludes")),
        )
        rules.setdefault(key, set()).update(rule["names"])
    return {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile.get("defaultErrnoRet"),
        "archMap": {entry["architecture"]: sorted(entry["subArchitectures"]) for entry in profile.get("archMap", [])},
        "rules": rules,
    }


def differences(ours, theirs):
    """Readable differences between two semantics() results; empty when they mean the same."""
    found = []
    for key in ("defaultAction", "defaultErrnoRet", "archMap"):
        if ours[key] != theirs[key]:
            found.append("%s: ours %r, Docker's %r" % (key, ours[key], theirs[key]))
    for condition in sorted(set(ours["rules"]) | set(theirs["rules"]), key=repr):
        mine = ours["rules"].get(condition, set())
        docker = theirs["rules"].get(condition, set())
        if mine != docker:
            found.append("%s: only ours %s, only Docker's %s"
                         % (condition, sorted(mine - docker), sorted(docker - mine)))
    return found


# --- the description against every published profile ---------------------------------------------------------------


@needs_reference
@pytest.mark.parametrize("version", dv.CHECKED_AGAINST)
def test_description_means_what_docker_publishes(version):
    ours = semantics(sc.docker_default_profile(version))
    theirs = semantics(reference(version))
    assert not differences(ours, theirs), "\n".join(differences(ours, theirs))
    # Non-vacuous: both sides have the conditional rules (capabilities, arches, kernel, errno) as well as the list.
    assert len(theirs["rules"]) > 15 and ("SCMP_ACT_ERRNO", 38, "[]", "{}", '{"caps": ["CAP_SYS_ADMIN"]}') in ours[
        "rules"]


@needs_reference
def test_every_reference_file_is_checked():
    files = sorted(f[: -len(".json")] for f in os.listdir(REFERENCE) if f.endswith(".json"))
    assert files == sorted(dv.CHECKED_AGAINST)


@needs_reference
def test_the_comparison_sees_what_changed_between_20_10_and_26_1():
    """20.10.24's description against 26.1.5's published profile: exactly the known changes show up."""
    found = differences(semantics(sc.docker_default_profile("20.10.24")), semantics(reference("26.1.5")))
    allow = ("SCMP_ACT_ALLOW", None, "[]", "{}", "{}")
    ours = semantics(sc.docker_default_profile("20.10.24"))["rules"][allow]
    theirs = semantics(reference("26.1.5"))["rules"][allow]
    assert ours - theirs == {"io_uring_enter", "io_uring_register", "io_uring_setup", "socket"}
    assert theirs - ours == {"cachestat", "fchmodat2", "futex_requeue", "futex_wait", "futex_wake",
                             "map_shadow_stack", "name_to_handle_at", "pkey_alloc", "pkey_free", "pkey_mprotect"}
    assert any(line.startswith("defaultErrnoRet: ours None, Docker's 1") for line in found)
    assert any("SCMP_ARCH_RISCV64" in line for line in found)
    assert any('"minKernel": "4.8"' in line and "process_vm_readv" in line for line in found)
    assert any("CAP_BPF" in line for line in found) and any("CAP_PERFMON" in line for line in found)


@needs_reference
def test_a_missing_change_is_caught(monkeypatch):
    """Without its 25.0.0 change the description of 26.1.5 still has io_uring, and the comparison says so."""
    monkeypatch.setattr(dv, "CHANGES", tuple(c for c in dv.CHANGES if "io_uring" not in c.note))
    dd._render.cache_clear()
    try:
        found = differences(semantics(sc.docker_default_profile("26.1.5")), semantics(reference("26.1.5")))
    finally:
        monkeypatch.undo()
        dd._render.cache_clear()
    assert len(found) == 1 and "only ours ['io_uring_enter', 'io_uring_register', 'io_uring_setup']" in found[0]


# --- which engine gets which change ----------------------------------------------------------------------------------


def allowed(version, caps=dd.DEFAULT_CAPS):
    return sc.effective_policy(sc.docker_default_profile(version), caps, "x86_64", "6.1")


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        ("20.10.24", {"io_uring_setup", "socket"}, {"name_to_handle_at", "pkey_alloc", "cachestat"}),
        ("20.10.25", {"io_uring_setup", "name_to_handle_at"}, {"pkey_alloc"}),
        ("23.0.0", {"pkey_alloc", "io_uring_setup"}, {"name_to_handle_at", "cachestat", "socket"}),
        ("23.0.7", {"name_to_handle_at"}, {"cachestat"}),
        ("23.0.10", {"cachestat", "fchmodat2", "futex_wait", "io_uring_setup"}, set()),
        ("24.0.2", {"io_uring_setup"}, {"name_to_handle_at"}),
        ("24.0.3", {"name_to_handle_at"}, {"cachestat"}),
        ("24.0.9", {"io_uring_setup"}, {"cachestat", "futex_wait"}),
        ("25.0.2", {"name_to_handle_at"}, {"io_uring_setup", "cachestat"}),
        ("25.0.3", {"cachestat", "map_shadow_stack"}, {"io_uring_setup"}),
        ("28.1.1", {"cachestat"}, {"listmount", "mseal"}),
        ("28.2.0", {"listmount", "statmount", "mseal", "getxattrat", "riscv_hwprobe"}, {"lsm_get_self_attr"}),
        ("29.4.1", {"socketcall"}, set()),
        ("29.4.2", set(), {"socketcall"}),
        ("29.4.3", {"socketcall"}, set()),
    ],
)
def test_changes_reach_the_releases_that_have_them(version, present, absent):
    policy = allowed(version)
    assert present <= policy["allow"]
    assert not absent & policy["allow"]


def test_socket_families_and_socketcall_errno_by_version():
    def socket_rules(version):
        return sorted((a["op"], a["value"]) for r in allowed(version)["rules"] if r["names"] == ["socket"]
                      for a in r.get("args", []))

    assert socket_rules("20.10.24") == [] and "socket" in allowed("20.10.24")["allow"]
    assert socket_rules("29.4.1") == [("SCMP_CMP_NE", 40)]
    assert socket_rules("29.4.2") == socket_rules("29.7.2") == [("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40),
                                                                ("SCMP_CMP_LT", 38)]
    assert allowed("29.4.2")["errno_ret"]["socketcall"] == sc.ENOSYS
    assert "socketcall" not in allowed("29.4.3")["errno"]


def test_capability_gated_changes():
    admin = ["CAP_SYS_ADMIN", *dd.DEFAULT_CAPS]
    assert "name_to_handle_at" in allowed("20.10.24", admin)["allow"]
    assert {"lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr"} <= allowed("28.2.0", admin)["allow"]
    assert "bpf" in allowed("23.0.0", ["CAP_BPF"])["allow"] and "bpf" not in allowed("20.10.24", ["CAP_BPF"])["allow"]
    assert "perf_event_open" in allowed("26.1.5", ["CAP_PERFMON"])["allow"]
    assert "clock_settime64" in allowed("23.0.0", ["CAP_SYS_TIME"])["allow"]
    assert "set_mempolicy_home_node" in allowed("25.0.3", ["CAP_SYS_NICE"])["allow"]
    assert "set_mempolicy_home_node" not in allowed("24.0.9", ["CAP_SYS_NICE"])["allow"]
    # Kernel-gated: process_vm_readv joins ptrace from 4.8 on 23.0, needs CAP_SYS_PTRACE on 20.10.
    policy = sc.effective_policy(sc.docker_default_profile("23.0.0"), dd.DEFAULT_CAPS, "x86_64", "4.8")
    assert {"ptrace", "process_vm_readv", "process_vm_writev"} <= policy["allow"]
    old_kernel = sc.effective_policy(sc.docker_default_profile("23.0.0"), dd.DEFAULT_CAPS, "x86_64", "4.4")
    assert not {"ptrace", "process_vm_readv"} & old_kernel["allow"]
    assert "process_vm_readv" not in allowed("20.10.24")["allow"]


def test_arches_by_version():
    riscv = sc.effective_policy(sc.docker_default_profile("26.1.5"), dd.DEFAULT_CAPS, "riscv64", "6.1")
    assert riscv["architectures"] == ["SCMP_ARCH_RISCV64"] and "riscv_flush_icache" in riscv["allow"]
    old = sc.effective_policy(sc.docker_default_profile("20.10.24"), dd.DEFAULT_CAPS, "riscv64", "6.1")
    assert old["architectures"] == [] and "riscv_flush_icache" not in old["allow"]
    loong = [e["architecture"] for e in sc.docker_default_profile("29.7.2")["archMap"]]
    assert "SCMP_ARCH_LOONGARCH64" in loong
    assert "SCMP_ARCH_LOONGARCH64" not in [e["architecture"] for e in sc.docker_default_profile("29.4.1")["archMap"]]
    ppc = sc.effective_policy(sc.docker_default_profile("23.0.0"), dd.DEFAULT_CAPS, "ppc64le", "6.1")
    assert {"swapcontext", "sync_file_range2"} <= ppc["allow"]


# --- the data stays well-formed --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", dv.CHECKED_AGAINST)
def test_groups_partition_every_allow_list(version):
    description = dd.description(version)
    seen = {}
    for group, names in description.allow_groups.items():
        for name in names:
            assert name not in seen, "%s in %s and %s" % (name, seen[name], group)
            seen[name] = group
    assert sorted(seen) == description.allow_list()
    assert set(description.group_names()) <= set(dd.all_group_names())


def test_every_change_reaches_some_checked_version():
    reached = set()
    for version in dv.CHECKED_AGAINST:
        reached.update(dd.description(version).changes)
    for change in dv.CHANGES:
        assert set(change.releases) & reached or any(dd._applies(change, dd.parse_version(v))
                                                     for v in dv.CHECKED_AGAINST), change.note


def test_bad_change_data_is_refused(monkeypatch):
    broken = dv._change("25.0.0", "removes a name that is not there", remove={"io_uring": ("io_uring_frobnicate",)})
    monkeypatch.setattr(dv, "CHANGES", (*dv.CHANGES, broken))
    dd._render.cache_clear()
    try:
        with pytest.raises(ValueError, match="io_uring_frobnicate is not in group 'io_uring'"):
            dd.description("26.1.5")
    finally:
        monkeypatch.undo()
        dd._render.cache_clear()


# --- engine versions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("26.1.5", (26, 1, 5)),
        ("26.1.5+dfsg1", (26, 1, 5)),
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("24.0.7-0ubuntu2~22.04.1", (24, 0, 7)),
        ("29.0.0-rc.1", (29, 0, 0)),
        ("v28.5.2", (28, 5, 2)),
        (" 26.1 ", (26, 1, None)),
    ],
)
def test_parse_version(text, parsed):
    assert dd.parse_version(text) == parsed


@pytest.mark.parametrize("text", ["26", "twenty", "26.1.5.4", "", "26.x", None, True, ["26.1"]])
def test_parse_version_refuses(text):
    with pytest.raises(dd.EngineError):
        dd.parse_version(text)


@pytest.mark.parametrize(
    ("engine", "version", "warning"),
    [
        ("26.1.5+dfsg1", "26.1.5", None),
        ("26.1", "26.1", None),
        ("20.10.24+dfsg1", "20.10.24", None),
        ("20.10.3", "20.10.24", "before 20.10.24 differ"),
        ("25.0", "25.0", "read as the newest 25.0 patch release: 25.0.3 changed"),
        ("29.7.2", "29.7.2", None),
        ("29.7", "29.7", None),
        ("29.7.3", "29.7.2", "newer than the newest engine"),
        ("30.1.0", "29.7.2", "newer than the newest engine whose default seccomp profile is described (29.7.2)"),
    ],
)
def test_description_of_engine(engine, version, warning):
    description = dd.description(engine)
    assert description.version == version
    if warning is None:
        assert description.warnings == ()
    else:
        assert len(description.warnings) == 1 and warning in description.warnings[0]


def test_newer_engine_renders_the_newest_description():
    assert sc.docker_default_profile("31.0.0") == sc.docker_default_profile(dv.NEWEST)


@pytest.mark.parametrize(
    ("engine", "fragment"),
    [
        ("19.03.15", "Docker Engine 19.03.15 is older than 20.10"),
        ("1.13.1", "older than 20.10"),
        ("22.06.0-beta.0", "is not a Docker release (20.10 was followed by 23.0)"),
        ("20.11", "is not a Docker release"),
        ("latest", "is not a Docker Engine version"),
    ],
)
def test_undescribed_engines_are_errors(engine, fragment):
    with pytest.raises(dd.EngineError, match=fragment.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        dd.description(engine)
    with pytest.raises(sc.SeccompError) as info:
        sc.generate("docker_default", engine=engine)
    assert info.value.path == "engine" and fragment in str(info.value)


# --- reading the version from a daemon -------------------------------------------------------------------------------


class _FakeDaemon(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b'{"Version": "26.1.5+dfsg1", "ApiVersion": "1.45"}'
    paths = []

    def do_GET(self):
        type(self).paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_daemon(tmp_path):
    path = str(tmp_path / "docker.sock")

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    class Handler(_FakeDaemon):
        paths = []

    server = Server(path, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "unix://" + path, Handler
    finally:
        server.shutdown()
        server.server_close()


def test_read_engine_version_asks_the_daemon(fake_daemon):
    host, handler = fake_daemon
    assert dd.read_engine_version(host) == "26.1.5+dfsg1"
    assert handler.paths == ["/version"]


def test_read_engine_version_uses_docker_host(fake_daemon, monkeypatch):
    host, _handler = fake_daemon
    monkeypatch.setenv("DOCKER_HOST", host)
    assert dd.read_engine_version() == "26.1.5+dfsg1"


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (500, b'{"message": "boom"}', "answered GET /version with HTTP 500"),
        (200, b"not json", "did not report its version"),
        (200, b'{"ApiVersion": "1.45"}', "did not report its version"),
        (200, b'{"Version": ""}', "reported no version"),
    ],
)
def test_read_engine_version_bad_answers(fake_daemon, status, body, fragment):
    host, handler = fake_daemon
    handler.status = status
    handler.body = body
    with pytest.raises(dd.EngineError, match=fragment):
        dd.read_engine_version(host)


def test_read_engine_version_without_a_daemon(tmp_path):
    with pytest.raises(dd.EngineError) as info:
        dd.read_engine_version("unix://%s" % (tmp_path / "nothing.sock"))
    assert "is dockerd running?" in str(info.value) and "give engine:" in str(info.value)
    with pytest.raises(dd.EngineError, match="only a local daemon"):
        dd.read_engine_version("tcp://10.0.0.1:2376")
