"""Unit tests for the seccomp profile model: validation, canonical JSON, effective policy, generation."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc
from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker as dd
from ansible_collections.confine.docker.plugins.module_utils._seccomp import SeccompError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "seccomp")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def rule(names, action="SCMP_ACT_ALLOW", **extra):
    return dict({"names": names, "action": action}, **extra)


def profile(*rules, default="SCMP_ACT_ERRNO", **extra):
    return dict({"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"], "syscalls": list(rules)}, **extra)


# --- parsing: every field of Docker's format -------------------------------------------------------------------------


def test_full_format_round_trip():
    data = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"name": "read", "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
             "comment": "no namespaces", "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["uselib"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["vm86"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["kexec_load"], "action": "SCMP_ACT_KILL"},
            {"names": ["acct"], "action": "SCMP_ACT_TRAP"},
            {"names": ["ustat"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
        ],
    }
    parsed = sc.parse_profile(json.dumps(data))
    assert parsed["syscalls"][0] == {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    assert parsed["syscalls"][1]["args"] == [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
    assert parsed["syscalls"][2]["args"][0]["valueTwo"] == 2114060288
    assert parsed["syscalls"][2]["comment"] == "no namespaces"
    assert parsed["syscalls"][2]["excludes"] == {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}
    assert parsed["syscalls"][9] == {"names": ["ustat"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
    assert parsed["archMap"][0]["subArchitectures"] == ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert parsed["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    assert sc.parse_profile(sc.canonical_json(parsed)) == parsed


def test_canonical_json_is_one_format_and_stable():
    messy = '{"syscalls":[{"action":"SCMP_ACT_ALLOW","names":["write","read","read"],"args":[]}],' \
            '"defaultAction":"SCMP_ACT_ERRNO"}'
    text = sc.canonical_json(sc.parse_profile(messy))
    assert text == (
        '{\n  "defaultAction": "SCMP_ACT_ERRNO",\n  "syscalls": [\n    {\n      "action": "SCMP_ACT_ALLOW",\n'
        '      "names": [\n        "read",\n        "write"\n      ]\n    }\n  ]\n}\n'
    )
    assert sc.canonical_json(sc.parse_profile(text)) == text


def test_oci_hook_recording_normalises():
    parsed = sc.parse_profile(fixture_text("oci-hook-recorded.json"))
    assert parsed["syscalls"][0].keys() == {"names", "action"}
    assert "execve" in parsed["syscalls"][0]["names"]


# --- bad input: precise errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "line", "column", "fragment"),
    [
        ("bad-missing-comma.json", 6, 7, "Expecting ',' delimiter"),
        ("bad-args-colon.json", 7, 16, "malformed JSON"),
    ],
)
def test_malformed_json_has_line_and_column(fixture, line, column, fragment):
    with pytest.raises(SeccompError) as info:
        sc.parse_profile(fixture_text(fixture))
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in str(info.value) and "line %d column %d" % (line, column) in str(info.value)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        (profile(rule(["read"]), extra=1), "extra", "unknown key 'extra'"),
        ({"syscalls": []}, None, "missing required key 'defaultAction'"),
        (profile(rule(["read"], action="SCMP_ACT_ALOW")), "syscalls[0].action", "did you mean SCMP_ACT_ALLOW"),
        (profile(rule(["read"]), default="SCMP_ACT_DENY"), "defaultAction", "unknown action 'SCMP_ACT_DENY'"),
        (profile(rule(["read"]), rule(["write"], acton="SCMP_ACT_ALLOW")), "syscalls[1].acton", "did you mean action"),
        (profile(rule("read")), "syscalls[0].names", 'got a string (write ["read"])'),
        (profile(rule(["read", 3])), "syscalls[0].names[1]", "must be a string"),
        (profile(rule(["Read me"])), "syscalls[0].names[0]", "is not a syscall name"),
        (profile({"action": "SCMP_ACT_ALLOW"}), "syscalls[0]", "needs 'names'"),
        (profile({"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}), "syscalls[0]", "both given"),
        (profile(rule(["read"], args=[{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}])), "syscalls[0].args[0].index",
         "between 0 and 5"),
        (profile(rule(["read"], args=[{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}])), "syscalls[0].args[0].value",
         "between 0 and"),
        (profile(rule(["read"], args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQUAL"}])), "syscalls[0].args[0].op",
         "did you mean SCMP_CMP_EQ"),
        (profile(rule(["read"], args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "mask": 1}])),
         "syscalls[0].args[0].mask", "unknown key 'mask'"),
        (profile(rule(["read"], errnoRet=1)), "syscalls[0].errnoRet", "only valid with SCMP_ACT_ERRNO"),
        (profile(rule(["read"], includes={"caps": ["sys_admin"]})), "syscalls[0].includes.caps[0]",
         "not a capability name"),
        (profile(rule(["read"], includes={"arches": ["x86_64"]})), "syscalls[0].includes.arches[0]",
         "unknown architecture 'x86_64'"),
        (profile(rule(["read"], excludes={"minKernel": "four"})), "syscalls[0].excludes.minKernel",
         "not a kernel version"),
        (profile(rule(["read"], includes={"kernel": "4.8"})), "syscalls[0].includes.kernel", "unknown key"),
        (dict(profile(rule(["read"])), architectures=["SCMP_ARCH_AMD64"]), "architectures[0]",
         "unknown architecture"),
        (dict(profile(rule(["read"])), archMap=[{"architecture": "SCMP_ARCH_X86_64"}]), "archMap", "both given"),
        (profile(rule(["read"]), defaultErrnoRet=1, default="SCMP_ACT_ALLOW"), "defaultErrnoRet", "only valid"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": 5}, "syscalls", "must be a list"),
        (profile(rule(["mkdir"]), rule(["mkdir", "rmdir"], action="SCMP_ACT_ERRNO")), "syscalls[1].names[0]",
         "conflicting actions for syscall 'mkdir'"),
        (profile(rule(["clone3"], action="SCMP_ACT_ERRNO", errnoRet=38), rule(["clone3"], action="SCMP_ACT_ERRNO")),
         "syscalls[1].names[0]", "SCMP_ACT_ERRNO here but SCMP_ACT_ERRNO(38)"),
    ],
)
def test_invalid_profiles(data, path, fragment):
    with pytest.raises(SeccompError) as info:
        sc.parse_profile(data, check_names=False)
    assert info.value.path == path
    assert fragment in str(info.value)


def test_duplicate_json_key_is_an_error():
    with pytest.raises(SeccompError, match="duplicate key 'action'"):
        sc.parse_profile('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
                         '"action": "SCMP_ACT_ALLOW", "action": "SCMP_ACT_LOG"}]}')


@pytest.mark.parametrize(
    "rules",
    [
        # Exclusive by capability (Docker's own clone3 pair).
        [rule(["clone3"], includes={"caps": ["CAP_SYS_ADMIN"]}),
         rule(["clone3"], action="SCMP_ACT_ERRNO", errnoRet=38, excludes={"caps": ["CAP_SYS_ADMIN"]})],
        # Different argument filters are separate rules.
        [rule(["personality"], args=[{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]),
         rule(["personality"], action="SCMP_ACT_ERRNO", args=[{"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}])],
        # Disjoint architectures, and kernel ranges that do not overlap.
        [rule(["ioperm"], includes={"arches": ["amd64"]}),
         rule(["ioperm"], action="SCMP_ACT_ERRNO", includes={"arches": ["arm64"]})],
        [rule(["ptrace"], includes={"minKernel": "4.8"}),
         rule(["ptrace"], action="SCMP_ACT_ERRNO", excludes={"minKernel": "4.8"})],
        # Same action twice is harmless.
        [rule(["syslog"], includes={"caps": ["CAP_SYSLOG"]}), rule(["syslog"], includes={"caps": ["CAP_SYS_ADMIN"]})],
    ],
)
def test_exclusive_rules_are_not_conflicts(rules):
    sc.parse_profile(profile(*rules), check_names=False)


class FakeLib:
    """libseccomp stand-in: a name exists on the architectures listed for it."""

    version = "0.0.0"

    def __init__(self, table):
        self.table = table

    def known_arch(self, arch):
        return arch in sc.SCMP_ARCHES

    def native_arch(self):
        return "SCMP_ARCH_X86_64"

    def exists(self, name, arch):
        return arch in self.table.get(name, ())


def test_unknown_syscall_names_are_errors_with_path():
    lib = FakeLib({"read": ["SCMP_ARCH_X86_64"], "chown32": ["SCMP_ARCH_X86"]})
    with pytest.raises(SeccompError) as info:
        sc.parse_profile(profile(rule(["read", "mkdri"]), rule(["chown32"])), lib=lib)
    assert info.value.path == "syscalls[0].names[1]"
    assert "'mkdri' is not a syscall on SCMP_ARCH_X86_64" in str(info.value)
    assert "(also unknown: chown32)" in str(info.value)
    # chown32 exists on x86 only: fine once the profile lists x86.
    sc.parse_profile(dict(profile(rule(["chown32"])), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]), lib=lib)
    # An arch-limited rule may name a call of an architecture the profile does not list.
    sc.parse_profile(profile(rule(["chown32"], includes={"arches": ["x86"]})), lib=lib)


def test_missing_libseccomp_is_a_clear_error(monkeypatch):
    from ansible_collections.confine.docker.plugins.module_utils import _libseccomp

    def missing():
        raise _libseccomp.LibseccompError("libseccomp is not installed on this host")

    monkeypatch.setattr(_libseccomp, "load", missing)
    with pytest.raises(SeccompError, match="cannot check syscall names: libseccomp is not installed"):
        sc.parse_profile(profile(rule(["read"])))
    assert sc.parse_profile(profile(rule(["read"])), check_names=False)["syscalls"][0]["names"] == ["read"]


# --- effective policy ------------------------------------------------------------------------------------------------


GATED = profile(
    rule(["read", "write"]),
    rule(["mount"], includes={"caps": ["CAP_SYS_ADMIN"]}),
    rule(["kcmp"], includes={"caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]}),
    rule(["clone3"], action="SCMP_ACT_ERRNO", errnoRet=38, excludes={"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}),
    rule(["ptrace"], includes={"minKernel": "4.8"}),
    rule(["old_call"], action="SCMP_ACT_LOG", excludes={"minKernel": "5.0"}),
    rule(["arch_prctl"], includes={"arches": ["amd64", "x32"]}),
    rule(["s390_pci_mmio_read"], includes={"arches": ["s390x"]}),
    rule(["modify_ldt"], excludes={"arches": ["arm64"]}),
    rule(["personality"], args=[{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]),
    rule(["uselib"], action="SCMP_ACT_KILL_PROCESS"),
)


@pytest.mark.parametrize(
    ("caps", "arch", "kernel", "allow", "errno", "log"),
    [
        ((), "x86_64", "5.10", {"read", "write", "ptrace", "arch_prctl", "modify_ldt"}, {"clone3"}, set()),
        (("CAP_SYS_ADMIN",), "SCMP_ARCH_X86_64", "5.10",
         {"read", "write", "ptrace", "arch_prctl", "modify_ldt", "mount"}, set(), set()),
        (("sys_admin", "SYS_PTRACE"), "amd64", "5.10",
         {"read", "write", "ptrace", "arch_prctl", "modify_ldt", "mount", "kcmp"}, set(), set()),
        (("CAP_BPF",), "aarch64", "4.4.0-200-generic", {"read", "write"}, set(), {"old_call"}),
        ((), "s390x", "4.8", {"read", "write", "ptrace", "s390_pci_mmio_read", "modify_ldt"}, {"clone3"},
         {"old_call"}),
        ((), "s390x", "5.0", {"read", "write", "ptrace", "s390_pci_mmio_read", "modify_ldt"}, {"clone3"}, set()),
    ],
)
def test_effective_policy_follows_docker(caps, arch, kernel, allow, errno, log):
    policy = sc.effective_policy(sc.parse_profile(GATED, check_names=False), caps, arch, kernel)
    assert policy["allow"] == allow
    assert policy["errno"] == errno
    assert policy["log"] == log
    assert policy["kill"] == {"uselib"}
    assert policy["conditional"] == {"personality": ["SCMP_ACT_ALLOW"]}
    assert policy["default"] == "SCMP_ACT_ERRNO" and policy["default_errno"] == sc.EPERM
    if errno:
        assert policy["errno_ret"] == {"clone3": 38}


def test_effective_policy_archmap_selects_native():
    policy = sc.effective_policy(sc.docker_default_profile(), dd.DEFAULT_CAPS, "aarch64", "5.10")
    assert policy["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert {"arm_fadvise64_64", "set_tls"} <= policy["allow"] and "arch_prctl" not in policy["allow"]


def _runtime_fixtures():
    directory = os.path.join(FIXTURES, "docker-20.10.24-runtime")
    return sorted(f for f in os.listdir(directory) if f.endswith(".json"))


@pytest.mark.parametrize("name", _runtime_fixtures())
def test_docker_default_data_matches_what_docker_gave_runc(name):
    """Our data, filtered for the container's caps, equals the rules Docker 20.10.24 passed to runc (recorded)."""
    with open(os.path.join(FIXTURES, "docker-20.10.24-runtime", name), encoding="utf-8") as handle:
        recorded = json.load(handle)
    profile = sc.docker_default_profile("20.10.24+dfsg1")
    assert profile == sc.docker_default_profile()  # 20.10.24 is the base description
    policy = sc.effective_policy(profile, recorded["capabilities"], "x86_64", "6.18")
    expected = [dict(r, names=sorted(r["names"])) for r in recorded["seccomp"]["syscalls"]]
    assert policy["rules"] == expected
    assert policy["architectures"] == recorded["seccomp"]["architectures"]
    assert policy["default"] == recorded["seccomp"]["defaultAction"]


# --- generation ------------------------------------------------------------------------------------------------------


def test_docker_default_groups_partition_the_allow_list():
    seen = {}
    for group, names in dd.ALLOW_GROUPS.items():
        for name in names:
            assert name not in seen, "%s in %s and %s" % (name, seen.get(name), group)
            seen[name] = group
    assert sorted(seen) == dd.allow_list()


def test_generate_enforce_and_log():
    enforce = sc.generate("docker_default", mode="enforce")
    assert enforce["defaultAction"] == "SCMP_ACT_ERRNO" and enforce["defaultErrnoRet"] == sc.EPERM
    log = sc.generate("docker_default", mode="log")
    assert log["defaultAction"] == "SCMP_ACT_LOG" and "defaultErrnoRet" not in log
    actions = {r["action"] for r in log["syscalls"]}
    assert actions <= {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG"}, "log mode must block nothing"
    log_policy = sc.effective_policy(log, dd.DEFAULT_CAPS, "x86_64", "6.1")
    assert "clone3" in log_policy["log"]
    assert log_policy["allow"] == sc.effective_policy(enforce, dd.DEFAULT_CAPS, "x86_64", "6.1")["allow"]


def test_generate_allow_deny_on_docker_default():
    result = sc.generate("docker_default", allow=["keyctl"], deny=["mkdir", "mkdirat", "mount"])
    policy = sc.effective_policy(result, ["CAP_SYS_ADMIN", *dd.DEFAULT_CAPS], "x86_64", "6.1")
    assert "keyctl" in policy["allow"]
    assert not {"mkdir", "mkdirat", "mount"} & policy["allow"]
    assert "umount2" in policy["allow"]


def test_generate_deny_on_default_allow_base_adds_errno_rule():
    base = profile(rule(["ptrace"], action="SCMP_ACT_ERRNO"), default="SCMP_ACT_ALLOW")
    result = sc.generate(base, mode=None, deny=["mkdir"])
    policy = sc.effective_policy(result, (), "x86_64", "6.1")
    assert policy["errno"] == {"ptrace", "mkdir"} and policy["default"] == "SCMP_ACT_ALLOW"


def test_generate_empty_is_pure_allow_list():
    result = sc.generate("empty", allow=["read", "write"])
    assert result["syscalls"] == [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
    assert result["defaultAction"] == "SCMP_ACT_ERRNO"


def test_generate_runtime_minimum():
    result = sc.generate("runtime_minimum", allow=["getppid"], deny=["chdir"])
    names = result["syscalls"][0]["names"]
    assert set(dd.RUNTIME_MINIMUM) - {"chdir"} <= set(names) and "getppid" in names and "chdir" not in names


def test_runtime_minimum_answers_clone3_with_enosys():
    """glibc falls back from clone3 to clone only on ENOSYS: a least-privilege profile that allows clone (what an
    application run under Docker's default is seen to call) must not answer clone3 with EPERM."""
    threads = sc.generate("runtime_minimum", allow=["clone"])
    policy = sc.effective_policy(threads, (), "x86_64", "6.1")
    assert "clone" in policy["allow"] and policy["errno_ret"] == {"clone3": sc.ENOSYS}
    # Asked for, clone3 is allowed (the ENOSYS rule goes); denied, it gets the default action (EPERM).
    allowed = sc.effective_policy(sc.generate("runtime_minimum", allow=["clone3"]), (), "x86_64", "6.1")
    assert "clone3" in allowed["allow"] and not allowed["errno"]
    denied = sc.generate("runtime_minimum", deny=["clone3"])
    assert [r for r in denied["syscalls"] if "clone3" in r["names"]] == []
    # The trial logs it instead (log mode blocks nothing), so that a trial shows clone3 being used.
    trial = sc.effective_policy(sc.generate("runtime_minimum", mode="log"), (), "x86_64", "6.1")
    assert "clone3" in trial["log"] and not trial["errno"]
    # A pure allow-list stays one.
    assert sc.generate("empty", allow=["clone"])["syscalls"] == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW"}]


def test_generate_from_recorded_profile():
    result = sc.generate(fixture_text("oci-hook-recorded.json"), mode="log", allow=["getpid"])
    assert result["defaultAction"] == "SCMP_ACT_LOG"
    assert "getpid" in result["syscalls"][0]["names"] and "execve" in result["syscalls"][0]["names"]


def test_drop_groups():
    result = sc.generate("docker_default", drop_groups=["io_uring", "sysv_ipc", "cap_sys_admin"])
    policy = sc.effective_policy(result, ["CAP_SYS_ADMIN"], "x86_64", "6.1")
    assert not set(dd.ALLOW_GROUPS["io_uring"]) & policy["allow"]
    assert not set(dd.ALLOW_GROUPS["sysv_ipc"]) & policy["allow"]
    assert "mount" not in policy["allow"]
    assert "read" in policy["allow"]


def test_drop_groups_of_a_newer_engine():
    # From 23.0 socket is a conditional rule of the network group (AF_VSOCK refused): dropping network drops it.
    kept = sc.generate("docker_default", engine="26.1.5")
    assert "socket" in sc.effective_policy(kept, (), "x86_64", "6.1")["conditional"]
    dropped = sc.effective_policy(sc.generate("docker_default", engine="26.1.5", drop_groups=["network"]), (),
                                  "x86_64", "6.1")
    assert "socket" not in dropped["conditional"] and "connect" not in dropped["allow"]
    # A group one engine lacks or has emptied is accepted on every engine and leaves nothing out.
    assert sc.generate("docker_default", engine="26.1.5", drop_groups=["io_uring"]) == kept
    assert sc.generate("docker_default", engine="20.10.24", drop_groups=["cap_bpf"]) == sc.generate("docker_default")
    assert sc.generate("docker_default", engine="26.1.5", drop_groups=["cap_bpf"]) != kept


def test_generate_follows_the_engine():
    old = sc.generate("docker_default", engine="20.10.24")
    new = sc.generate("docker_default", engine="26.1.5")
    assert old == sc.generate("docker_default")
    old_allow = sc.effective_policy(old, dd.DEFAULT_CAPS, "x86_64", "6.1")["allow"]
    new_allow = sc.effective_policy(new, dd.DEFAULT_CAPS, "x86_64", "6.1")["allow"]
    assert {"io_uring_setup", "io_uring_enter", "io_uring_register"} <= old_allow - new_allow
    assert {"cachestat", "fchmodat2", "name_to_handle_at", "pkey_alloc"} <= new_allow - old_allow
    # Both mean the same in log mode as in enforce mode: nothing blocked, the same calls allowed.
    log = sc.generate("docker_default", mode="log", engine="26.1.5")
    assert {r["action"] for r in log["syscalls"]} <= {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG"}
    assert sc.effective_policy(log, dd.DEFAULT_CAPS, "x86_64", "6.1")["allow"] == new_allow


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"drop_groups": ["iouring"]}, "drop_groups", "did you mean io_uring"),
        ({"allow": ["read"], "deny": ["read"]}, "deny", "both allowed and denied"),
        ({"mode": "complain"}, "mode", "'log' or 'enforce'"),
        ({"base": "emtpy"}, None, "malformed JSON"),
        ({"base": "empty", "drop_groups": ["aio"]}, "drop_groups", "only applies"),
        ({"allow": "read"}, "allow", "got a string"),
        ({"base": "runtime_minimum", "engine": "26.1"}, "engine", "engine only applies to base docker_default"),
        ({"engine": "19.03"}, "engine", "older than 20.10"),
    ],
)
def test_generate_errors(kwargs, path, fragment):
    with pytest.raises(SeccompError) as info:
        sc.generate(**kwargs)
    assert info.value.path == path and fragment in str(info.value)


def test_least_privilege_empty_and_docker_default():
    lp = sc.least_privilege(["read", "write", "mkdir"])
    names = lp["syscalls"][0]["names"]
    assert set(dd.RUNTIME_MINIMUM) <= set(names) and "mkdir" in names and "socket" not in names
    trimmed = sc.least_privilege(["read", "socket", "mkdir"], base="docker_default")
    allow = sc.effective_policy(trimmed, dd.DEFAULT_CAPS, "x86_64", "6.1")["allow"]
    assert {"socket", "accept4", "mkdir", "rmdir"} <= allow
    assert not {"io_uring_setup", "msgget", "mq_open", "inotify_init1"} & allow
    assert set(dd.ALLOW_GROUPS["signals"]) <= allow  # runtime minimum groups stay
    assert sc.unused_groups(["read", "socket", "mkdir"]) == [
        g for g in dd.ALLOW_GROUPS if g not in ("file_io", "network", "file_create", *dd.RUNTIME_MINIMUM_GROUPS)
    ]


def test_least_privilege_on_a_newer_engine():
    # On 26.1 socket is the network group's conditional rule: an application seen calling it keeps the group.
    assert "network" not in sc.unused_groups(["read", "socket"], engine="26.1.5")
    assert "network" in sc.unused_groups(["read"], engine="26.1.5")
    # io_uring is empty from 25.0 on: nothing to drop, so it is not listed.
    assert "io_uring" in sc.unused_groups(["read"], engine="20.10.24")
    assert "io_uring" not in sc.unused_groups(["read"], engine="26.1.5")
    trimmed = sc.least_privilege(["read", "socket", "cachestat"], base="docker_default", engine="26.1.5")
    policy = sc.effective_policy(trimmed, dd.DEFAULT_CAPS, "x86_64", "6.1")
    assert "cachestat" in policy["allow"] and "socket" in policy["conditional"]
    assert not {"msgget", "mq_open", "io_uring_setup"} & policy["allow"]


# --- widen support ---------------------------------------------------------------------------------------------------


def test_add_allowed_is_idempotent_and_canonical():
    base = sc.parse_profile(profile(rule(["write", "read"]), rule(["mkdir"], action="SCMP_ACT_ERRNO")),
                            check_names=False)
    first, added = sc.add_allowed(base, ["mkdir", "getpid", "read"])
    assert added == ["getpid", "mkdir"]
    assert first["syscalls"] == [{"names": ["getpid", "mkdir", "read", "write"], "action": "SCMP_ACT_ALLOW"}]
    second, again = sc.add_allowed(first, ["mkdir", "getpid"])
    assert again == [] and second == first
    assert sc.canonical_json(second) == sc.canonical_json(sc.parse_profile(sc.canonical_json(first)))


def test_add_allowed_without_plain_allow_rule():
    base = profile(rule(["clone"], args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]))
    result, added = sc.add_allowed(base, ["read"])
    assert added == ["read"] and result["syscalls"][0] == {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


def test_add_allowed_keeps_the_profiles_conditional_decisions():
    # Docker's default answers clone3 with ENOSYS unless CAP_SYS_ADMIN; a trial that logged clone3 must not turn
    # that into an unconditional allow (it would conflict with the rule and defeat the fallback to clone).
    base = sc.generate(base="docker_default", mode="enforce")
    widened, added = sc.add_allowed(base, ["clone3", "mkdir", "io_uring_setup"])
    assert "clone3" not in added
    plain = {n for r in widened["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and set(r) <= {"names", "action"}
             for n in r["names"]}
    assert "clone3" not in plain
    assert sc.parse_profile(sc.canonical_json(widened)) == widened
    policy = sc.effective_policy(widened, caps=(), arch="x86_64", kernel="6.1")
    assert "clone3" in policy["errno"] and "clone3" not in policy["allow"]


# --- warnings --------------------------------------------------------------------------------------------------------


def test_weakness_warnings():
    weak = sc.parse_profile(profile(rule(["mount", "reboot"], action="SCMP_ACT_ERRNO"), default="SCMP_ACT_ALLOW"),
                            check_names=False)
    warnings = sc.weakness_warnings(weak)
    assert any("weak profile" in w and "blocks only 2 (mount, reboot)" in w for w in warnings)
    risky = sc.parse_profile(profile(rule(["read", "bpf", "keyctl"])), check_names=False)
    assert any("bpf, keyctl" in w for w in sc.weakness_warnings(risky))
    assert sc.weakness_warnings(sc.docker_default_profile()) == []
    assert any("blocks nothing" in w for w in sc.weakness_warnings(sc.generate(mode="log")))
    bare = sc.parse_profile({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule(["read"])]}, check_names=False)
    assert any("no architectures listed" in w for w in sc.weakness_warnings(bare))


@pytest.mark.parametrize("engine", ["20.10.24", "23.0.18", "24.0.9", "26.1.5", "28.5.2", "29.7.2"])
def test_docker_default_of_every_engine_has_no_weakness(engine):
    assert sc.weakness_warnings(sc.docker_default_profile(engine), engine=engine) == []


def test_dangerous_is_what_the_engine_keeps_closed():
    """name_to_handle_at needs CAP_SYS_ADMIN on 20.10.24 but not from 24.0.3 on: allowing it is a weakness only
    against an engine that keeps it closed."""
    risky = sc.parse_profile(profile(rule(["read", "name_to_handle_at"])), check_names=False)
    assert any("name_to_handle_at" in w for w in sc.weakness_warnings(risky, engine="20.10.24"))
    assert not any("name_to_handle_at" in w for w in sc.weakness_warnings(risky, engine="24.0.3"))
    assert not any("name_to_handle_at" in w for w in sc.weakness_warnings(risky))  # the newest engine


def test_names_newer_than_libseccomp():
    """A name libseccomp knows on no architecture but Docker's default has is a newer syscall: accepted, and
    reported by libseccomp_gaps. A typo, or a name of an architecture the profile does not list, is not."""
    lib = FakeLib({"read": ["SCMP_ARCH_X86_64"], "chown32": ["SCMP_ARCH_X86"]})
    newer = profile(rule(["read", "listmount", "mseal"]))
    sc.parse_profile(newer, lib=lib)
    assert sc.libseccomp_gaps(sc.parse_profile(newer, check_names=False), lib) == ["listmount", "mseal"]
    with pytest.raises(SeccompError, match="'listmoutn' is not a syscall"):
        sc.parse_profile(profile(rule(["read", "listmoutn"])), lib=lib)
    with pytest.raises(SeccompError, match="'chown32' is not a syscall on SCMP_ARCH_X86_64"):
        sc.parse_profile(profile(rule(["read", "chown32"])), lib=lib)
    assert sc.libseccomp_gaps(sc.parse_profile(profile(rule(["read"])), check_names=False), lib) == []


def test_parse_kernel():
    assert sc.parse_kernel("4.8") == (4, 8, 0)
    assert sc.parse_kernel("6.1.0-18-amd64") == (6, 1, 0)
    assert sc.parse_kernel("6.18.44-fc-v782") == (6, 18, 44)
