"""Unit tests for _widen: generalisation, the guard, spec/text/seccomp widening and the review report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.confine.docker.plugins.action.apparmor_profile import render_profile
from ansible_collections.confine.docker.plugins.module_utils import _seccomp, _widen
from ansible_collections.confine.docker.plugins.module_utils._widen import WidenError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "events")
PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
SPEC = {
    "name": "confine-web",
    "filesystem": {"read_only_paths": ["/etc/**"], "writable_paths": ["/tmp/cache/**"]},
    "network": {"protocols": ["tcp"]},
}
LOG_PROFILE = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}


@pytest.fixture()
def events(audit_events):
    return audit_events


def event(**fields):
    base = {"profile": "confine-web", "mode": "ALLOWED", "count": 1, "comm": ["app"],
            "first_seen": "2023-11-14T22:13:30.000Z", "last_seen": "2023-11-14T22:13:31.000Z"}
    base.update(fields)
    return base


def keys(items):
    return sorted(item["key"] for item in items)


# ------------------------------------------------------------------------------------------------ generalisation


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/proc/3101/status", "@{PROC}/@{pid}/status"),
        ("/proc/3101/task/3105/stat", "@{PROC}/@{pid}/task/@{tid}/stat"),
        ("/proc/self/fd/", "@{PROC}/self/fd/"),
        ("/proc/sys/kernel/core_pattern", "@{PROC}/sys/kernel/core_pattern"),
        ("/var/log/app/worker-17.log", "/var/log/app/worker-[0-9]*.log"),
        ("/var/log/app/app.log.3", "/var/log/app/app.log.[0-9]*"),
        ("/var/lib/postgresql/15/main/", "/var/lib/postgresql/[0-9]*/main/"),
        ("/tmp/tmpk3v9x_2q", "/tmp/tmp*"),
        ("/tmp/tmp.Ab3dE9xZ", "/tmp/tmp.*"),
        ("/tmp/tmpabcdefgh", "/tmp/tmp*"),
        ("/var/lib/demo/records/.tmp-k3v9x_2q", "/var/lib/demo/records/.tmp-*"),
        ("/var/lib/demo/records/.tmp-abcdefgh", "/var/lib/demo/records/.tmp-*"),
        ("/var/lib/demo/records/0f3a9c2d4b5e6f708192a3b4c5d6e7f8.json", "/var/lib/demo/records/*.json"),
        ("/run/app/session-x8k2m9q4", "/run/app/session-*"),
        ("/usr/bin/python3.11", "/usr/bin/python3.[0-9]*"),
        ("/run/app/4f1c0d2b3a5e6f70.sock", "/run/app/*.sock"),
        ("/var/cache/app/a1b2c3d4e5f6", "/var/cache/app/*"),
        ("/usr/lib/python3.11/json/__init__.py", "/usr/lib/python3.11/json/__init__.py"),
        ("/var/lib/app/records.db", "/var/lib/app/records.db"),
        ("/var/lib/app/my data,v1.json", "/var/lib/app/my\\040data\\,v[0-9]*.json"),
        ("/etc/nginx/nginx.conf", "/etc/nginx/nginx.conf"),
        ("/var/lib/app/records/906978.json", "/var/lib/app/records/[0-9]*.json"),
        ("/var/lib/app/2023.log", "/var/lib/app/[0-9]*.log"),
        ("/var/lib/postgresql/15/main/base/pgsql_tmp/pgsql_tmp21.0.fileset/",
         "/var/lib/postgresql/[0-9]*/main/base/pgsql_tmp/pgsql_tmp[0-9]*.[0-9]*.fileset/"),
        ("/var/lib/postgresql/15/main/base/16384/1247_vm", "/var/lib/postgresql/[0-9]*/main/base/[0-9]*/[0-9]*_vm"),
        ("/var/lib/postgresql/15/main/base/16384/2619_fsm", "/var/lib/postgresql/[0-9]*/main/base/[0-9]*/[0-9]*_fsm"),
        ("/var/lib/postgresql/15/main/pg_wal/000000010000000000000001",
         "/var/lib/postgresql/[0-9]*/main/pg_wal/[0-9]*"),
        ("/var/lib/redis/temp-1234.rdb", "/var/lib/redis/temp-[0-9]*.rdb"),
        ("/var/lib/app/backup-2.partial", "/var/lib/app/backup-[0-9]*.partial"),
        # Record shapes of the corpus's PostgreSQL trial (docs/corpus.md): a parallel sort's fileset of worker.segment
        # files, a relation's second segment, WAL segments past the ninth (hexadecimal).
        ("/var/lib/postgresql/15/main/base/pgsql_tmp/pgsql_tmp28.0.fileset/0.0",
         "/var/lib/postgresql/[0-9]*/main/base/pgsql_tmp/pgsql_tmp[0-9]*.[0-9]*.fileset/[0-9]*.[0-9]*"),
        ("/var/lib/postgresql/15/main/base/pgsql_tmp/pgsql_tmp28.1.fileset/1.0",
         "/var/lib/postgresql/[0-9]*/main/base/pgsql_tmp/pgsql_tmp[0-9]*.[0-9]*.fileset/[0-9]*.[0-9]*"),
        ("/var/lib/postgresql/15/main/base/5/16388.1", "/var/lib/postgresql/[0-9]*/main/base/[0-9]*/[0-9]*.[0-9]*"),
        ("/var/lib/postgresql/15/main/pg_wal/00000001000000000000000A",
         "/var/lib/postgresql/[0-9]*/main/pg_wal/[0-9A-F]*"),
        ("/var/lib/app/spool/0000000a", "/var/lib/app/spool/[0-9a-f]*"),
        ("/var/lib/app/2-3", "/var/lib/app/[0-9]*-[0-9]*"),
        # Counters of the corpus's other servers: Redis's BGSAVE child, nginx's request body buffer, a tenant's log.
        ("/var/lib/redis/temp-19.rdb", "/var/lib/redis/temp-[0-9]*.rdb"),
        ("/var/lib/nginx/body/0000000001", "/var/lib/nginx/body/[0-9]*"),
        ("/var/log/nginx/tenants/tenant-1.log", "/var/log/nginx/tenants/tenant-[0-9]*.log"),
        ("/run/postgresql/15-main.pid", "/run/postgresql/[0-9]*-main.pid"),
        # In the system's trees numbers are versions and stay: no glob over what a package installed.
        ("/opt/app/1.2.3/run.log", "/opt/app/1.2.3/run.log"),
        ("/usr/share/app/DEADBEEF01", "/usr/share/app/DEADBEEF01"),
    ],
)
def test_generalise_path(path, expected):
    assert _widen.generalise_path(path) == expected


@pytest.mark.parametrize(
    ("glob", "path", "expected"),
    [
        ("/**", "/etc/shadow", True),
        ("/**", "/", False),
        ("/tmp/*", "/tmp/", False),
        ("/usr/lib/**.so*", "/usr/lib/x/libc.so", True),
        ("/usr/lib/**.so*", "/usr/lib/.so", False),
        ("/etc/*", "/etc/ssl/x", False),
        ("/etc/**", "/etc/ssl/x", True),
        ("/{,var/}run/docker.sock", "/var/run/docker.sock", True),
        ("/{,var/}run/docker.sock", "/run/docker.sock", True),
        ("/dev/sd*", "/dev/sda1", True),
        ("/proc/[0-9]*/mem", "/proc/12/mem", True),
        ("/proc/[^s]*", "/proc/sys", False),
        ("@{PROC}/@{pid}/status", "/proc/3101/status", True),
        ("@{HOME}/x", "/root/x", True),
        ("@{UNKNOWN}/x", "/root/x", False),
        ("/tmp/?", "/tmp/ab", False),
    ],
)
def test_glob_matches(glob, path, expected):
    assert _widen.glob_matches(glob, path) is expected


@pytest.mark.parametrize(
    ("masks", "perms"),
    [(("wc", "wc"), "w"), (("r", None), "r"), (("rm", "rm"), "mr"), (("x", "x"), "ix"), (("ac",), "w"),
     (("a",), "a"), (("rwk",), "rwk"), (("l",), "l"), (("d",), "w"), (("",), "")],
)
def test_mask_perms(masks, perms):
    assert _widen.mask_perms(*masks) == perms


# -------------------------------------------------------------------------------------------------------- spec


def test_spec_widening_adds_workload_and_refuses_attacks(events):
    result = _widen.widen("apparmor", SPEC, events)
    spec = result["profile"]
    assert result["format"] == "spec" and result["name"] == "confine-web"
    files = {rule["path"]: rule["perms"] for rule in spec["filesystem"]["files"]}
    # The mmap of a Python extension is covered by abstractions/base (/usr/lib/**.so* mr).
    assert files == {
        "/var/lib/app/records.db": "w",
        "/var/log/app/worker-[0-9]*.log": "w",
        "/tmp/tmp*": "w",
    }
    assert spec["capabilities"]["allow"] == ["net_bind_service"]
    assert spec["network"] == {"raw": None, "packet": None, "protocols": ["tcp"]}
    assert spec["filesystem"]["allow_exec"] == []
    refused = {item["key"]: item for item in result["refused"]}
    assert set(refused) == {"capability sys_admin", "network inet raw", "/usr/bin/dash", "/etc/shadow",
                            "mount fstype=tmpfs options=(rw) tmpfs -> /mnt/", "@{PROC}/sys/kernel/core_pattern"}
    assert all(item["category"] == "guard" for item in refused.values())
    assert "password hashes" in refused["/etc/shadow"]["reason"]
    assert "read_only_paths entry /etc/**" in refused["/etc/shadow"]["reason"]
    assert refused["/usr/bin/dash"]["comm"] == ["python3"]
    records = next(item for item in result["added"] if item["key"] == "/var/lib/app/records.db")
    assert (records["count"], records["first_seen"]) == (2, "2023-11-14T22:13:30.001Z")
    # Reads (allowed by /** r), ptrace/signal within the profile and another profile's events add nothing.
    assert not [item for item in result["added"] + result["refused"] if item["type"] in ("ptrace", "signal")]
    assert "/etc/ssl/private/db.key" not in json.dumps(result)


PG = "/var/lib/postgresql/15/main/"
# Two rounds of the corpus's PostgreSQL trial: the same work under new backend pids, worker numbers, OIDs and WAL
# segments. The second round adds nothing: it shows only new instances of the patterns the first one learned.
PG_ROUNDS = (
    [PG + "base/pgsql_tmp/pgsql_tmp28.0.fileset/0.0", PG + "base/pgsql_tmp/pgsql_tmp28.1.fileset/1.0",
     PG + "base/pgsql_tmp/pgsql_tmp36.0", PG + "base/5/16388", PG + "base/5/16400_vm",
     PG + "base/1/pg_internal.init.14", PG + "pg_wal/00000001000000000000000A", PG + "pg_wal/xlogtemp.28"],
    [PG + "base/pgsql_tmp/pgsql_tmp54.0.fileset/2.0", PG + "base/pgsql_tmp/pgsql_tmp54.2.fileset/0.1",
     PG + "base/pgsql_tmp/pgsql_tmp61.3", PG + "base/5/24577.1", PG + "base/16384/24580_vm",
     PG + "base/16384/pg_internal.init.61", PG + "pg_wal/00000001000000000000000B", PG + "pg_wal/xlogtemp.61"],
)


def test_a_second_round_over_the_same_workload_adds_nothing():
    spec = {"name": "confine-web"}
    rounds = [[event(operation="open", name=path, requested_mask="wc", denied_mask="wc", comm=["postgres"])
               for path in paths] for paths in PG_ROUNDS]
    first = _widen.widen("apparmor", spec, {"apparmor": rounds[0]})
    # One rule per pattern: both workers' fileset files are one rule.
    assert first["refused"] == [] and len(first["added"]) == len(PG_ROUNDS[0]) - 1
    assert PG.replace("15", "[0-9]*") + "pg_wal/[0-9A-F]*" in keys(first["added"])
    second = _widen.widen("apparmor", first["profile"], {"apparmor": rounds[0] + rounds[1]})
    assert second["added"] == [] and second["refused"] == []
    assert second["profile"] == first["profile"]


def test_spec_widening_twice_changes_nothing(events):
    first = _widen.widen("apparmor", SPEC, events)
    second = _widen.widen("apparmor", first["profile"], events)
    assert second["profile"] == first["profile"]
    assert second["added"] == []
    assert keys(second["refused"]) == keys(first["refused"])


def test_approve_admits_guarded_items_but_not_template_denials(events):
    approve = ["capability sys_admin", "network inet raw", "/usr/bin/dash",
               "mount fstype=tmpfs options=(rw) tmpfs -> /mnt/", "/etc/shadow w,"]
    result = _widen.widen("apparmor", SPEC, events, approve=approve)
    spec = result["profile"]
    assert spec["capabilities"]["allow"] == ["net_bind_service", "sys_admin"]
    assert spec["network"]["raw"] is True
    assert spec["filesystem"]["allow_exec"] == ["/usr/bin/dash"]
    refused = {item["key"]: item for item in result["refused"]}
    assert refused["mount fstype=tmpfs options=(rw) tmpfs -> /mnt/"]["category"] == "conflict"
    assert "denies mount" in refused["mount fstype=tmpfs options=(rw) tmpfs -> /mnt/"]["reason"]
    assert refused["/etc/shadow"]["category"] == "conflict"
    assert refused["@{PROC}/sys/kernel/core_pattern"]["category"] == "guard"
    assert {item["key"] for item in result["added"] if item.get("approved")} == {
        "capability sys_admin", "network inet raw", "/usr/bin/dash"}


def test_spec_coverage_and_merging():
    spec = dict(SPEC, filesystem={"writable_paths": ["/data/**"], "allow_exec": ["/usr/bin/python3*"],
                                  "files": [{"path": "/srv/x", "perms": "r"}], "deny_paths": ["/secret/**"]},
                capabilities={"deny": ["chown"]}, network={"protocols": []})
    evts = [
        event(operation="open", name="/data/a/b", requested_mask="wc", denied_mask="wc"),
        event(operation="exec", name="/usr/bin/python3.11", requested_mask="x", denied_mask="x"),
        event(operation="open", name="/srv/x", requested_mask="w", denied_mask="w"),
        event(operation="open", name="/secret/key", requested_mask="r", denied_mask="r"),
        event(operation="capable", capability="chown"),
        event(operation="create", family="inet6", sock_type="dgram", protocol="udp", requested_mask="create"),
        event(operation="connect", family="unix", sock_type="stream", protocol="ip", requested_mask="connect"),
        event(operation="exec", name="/opt/app/bin/worker", requested_mask="x", denied_mask="x"),
        event(operation="signal", signal="hup", peer="unconfined", requested_mask="receive"),
        event(operation="signal", signal="kill", peer="unconfined", requested_mask="send"),
        event(operation="change_profile", name="other"),
        event(operation="open", name="/data/x", requested_mask="r", profile="someone-else"),
    ]
    result = _widen.widen("apparmor", spec, evts)
    new = result["profile"]
    assert new["filesystem"]["files"] == [{"path": "/srv/x", "perms": "rw", "audit": False, "deny": False,
                                           "owner": False}]
    assert new["filesystem"]["allow_exec"] == ["/usr/bin/python3*", "/opt/app/bin/worker"]
    assert new["network"]["protocols"] == []  # "network," already allows udp and unix
    assert new["extra_rules"] == []
    refused = {item["key"]: item for item in result["refused"]}
    assert refused["/secret/key"]["category"] == "conflict" and "deny_paths" in refused["/secret/key"]["reason"]
    assert refused["capability chown"]["category"] == "conflict"
    assert refused["signal send kill peer=unconfined"]["category"] == "guard"
    assert refused["change_profile other"]["category"] == "guard"
    assert len(result["added"]) == 2


def test_network_protocols_are_added_when_the_spec_lists_some():
    evts = [
        event(operation="create", family="inet", sock_type="dgram", protocol="udp", requested_mask="create"),
        event(operation="create", family="unix", sock_type="stream", protocol="ip", requested_mask="create"),
        event(operation="create", family="inet", sock_type="stream", protocol="tcp", requested_mask="create"),
    ]
    result = _widen.widen("apparmor", SPEC, evts)
    assert result["profile"]["network"]["protocols"] == ["tcp", "udp", "unix"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"name": "bad name"}, "not valid"),
        ({"name": "p", "bogus": 1}, "not valid"),
    ],
)
def test_invalid_spec(bad, message):
    with pytest.raises(WidenError, match=message):
        _widen.widen("apparmor", bad, [])


@pytest.mark.parametrize("events_value", ["x", [1], {"apparmor": "x"}])
def test_invalid_events(events_value):
    with pytest.raises(WidenError, match="event"):
        _widen.widen("apparmor", SPEC, events_value)


def test_widened_spec_renders_and_compiles(events, tmp_path):
    if not os.path.exists(PARSER):
        pytest.fail("apparmor_parser is needed (Debian package apparmor)")
    result = _widen.widen("apparmor", SPEC, events, approve=["capability sys_admin", "network inet raw"])
    extra = _widen.widen("apparmor", result["profile"], [
        event(operation="signal", signal="hup", peer="unconfined", requested_mask="send"),
        event(operation="ptrace", peer="other", requested_mask="read"),
    ], approve=["signal send hup peer=unconfined", "ptrace read peer=other"])
    assert extra["profile"]["extra_rules"] == [
        "signal (send) set=(hup) peer=unconfined,",
        "ptrace (read) peer=other,",
    ]
    path = tmp_path / "confine-web"
    path.write_text(render_profile(extra["profile"])[1])
    proc = subprocess.run([PARSER, "-QK", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


# -------------------------------------------------------------------------------------------------------- text

TEXT = """#include <tunables/global>

profile confine-web flags=(complain) {
  #include <abstractions/base>
  /usr/** mr,
  network inet stream,

  profile child {
    /bin/true ix,
  }
}

profile other {
  /x r,
}
"""


def test_text_widening_inserts_before_the_closing_brace(events, tmp_path):
    result = _widen.widen("apparmor", TEXT, events, name="confine-web")
    text = result["profile"]
    assert result["format"] == "text"
    block = text.split("profile other")[0]
    assert "  /var/lib/app/records.db w,\n" in block
    assert "  @{PROC}/@{pid}/status r,\n" in block
    assert "  capability net_bind_service,\n" in block
    assert "  signal (send) set=(term) peer=confine-web,\n" in block
    assert "/etc/shadow" not in text and "capability sys_admin" not in text
    assert text.endswith("profile other {\n  /x r,\n}\n")
    assert text.index("# added by confine.docker.profile_widen") > text.index("/bin/true ix,")
    again = _widen.widen("apparmor", text, events, name="confine-web")
    assert again["profile"] == text and again["added"] == []
    path = tmp_path / "confine-web"
    path.write_text(text)
    proc = subprocess.run([PARSER, "-QK", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_text_needs_a_name_when_ambiguous(events):
    with pytest.raises(WidenError, match="several profiles"):
        _widen.widen("apparmor", TEXT, events)
    with pytest.raises(WidenError, match="does not declare"):
        _widen.widen("apparmor", TEXT, events, name="nope")
    single = "profile confine-web {\n}\n"
    result = _widen.widen("apparmor", single, events)
    assert result["name"] == "confine-web" and "  /var/lib/app/records.db w,\n" in result["profile"]


# ------------------------------------------------------------------------------------------------------ seccomp


def test_seccomp_widening(events):
    result = _widen.widen("seccomp", LOG_PROFILE, events)
    profile = result["profile"]
    allowed = profile["syscalls"][0]["names"]
    assert allowed == ["clone3", "exit_group", "read", "write"]
    assert profile["defaultAction"] == "SCMP_ACT_LOG"
    assert keys(result["added"]) == ["clone3"]
    refused = {item["key"]: item for item in result["refused"]}
    assert set(refused) == {"mount", "unshare", "keyctl"}
    assert refused["mount"]["count"] == 2 and sorted(refused["mount"]["comm"]) == ["legacy", "mount"]
    again = _widen.widen("seccomp", profile, events)
    assert again["profile"] == profile and again["added"] == []
    assert _seccomp.canonical_json(again["profile"]) == _seccomp.canonical_json(profile)


def test_seccomp_approve_containers_and_unknown_numbers(events):
    extra = {"seccomp": events["seccomp"] + [
        {"syscall": None, "nr": 999, "arch": "x86_64", "action": "SCMP_ACT_LOG", "container": "web", "count": 3},
    ]}
    result = _widen.widen("seccomp", json.dumps(LOG_PROFILE), extra, approve=["unshare"], containers=["web"])
    assert keys(result["added"]) == ["clone3", "unshare"]
    refused = {item["key"]: item for item in result["refused"]}
    assert set(refused) == {"mount", "nr 999/x86_64"}
    assert refused["nr 999/x86_64"]["category"] == "unsupported"
    assert "mount" not in result["profile"]["syscalls"][0]["names"]


def test_seccomp_invalid_profile():
    with pytest.raises(WidenError, match="not valid"):
        _widen.widen("seccomp", {"syscalls": []}, [])
    with pytest.raises(WidenError, match="kind"):
        _widen.widen("selinux", {}, [])


# ------------------------------------------------------------------------------------------------------- report


def test_report_lists_added_and_refused_with_reasons(events):
    result = _widen.widen("apparmor", SPEC, events)
    report = result["report"]
    assert report.startswith("# Profile widening review: confine-web (apparmor)\n")
    assert "Events reviewed: 17.\nAdded: 4. Refused: 6 (6 by the guard)." in report
    assert "| `/var/lib/app/records.db w,` | 2 | python3 |" in report
    assert "| `/etc/shadow w,` |" in report and "password hashes" in report
    assert "`capability sys_admin` |" in report
    empty = _widen.widen("apparmor", result["profile"], {"apparmor": []})["report"]
    assert "Nothing: the profile already allows everything" in empty
    pipes = _widen.render_report("seccomp", "p", [], [{"rule": "a|b", "reason": "x", "category": "guard",
                                                      "count": 1, "comm": [], "key": "a|b"}])
    assert "a\\|b" in pipes


def test_narrowing_withholds_only_the_refused_rule():
    """A write glob in /tmp is fine; exec from /tmp is not: only the exec is narrowed (and refused)."""
    spec = {"name": "confine-web"}
    evts = []
    for name in ("bmz933qj", "qrt118kp"):
        evts.append(event(operation="open", name="/tmp/" + name, requested_mask="wc", denied_mask="wc"))
        evts.append(event(operation="exec", name="/tmp/" + name, requested_mask="x", denied_mask="x"))
    result = _widen.widen("apparmor", spec, evts)
    assert [(item["type"], item["key"]) for item in result["added"]] == [("file", "/tmp/*")]
    refused = {(item["type"], item["key"]): item for item in result["refused"]}
    assert set(refused) == {("exec", "/tmp/bmz933qj"), ("exec", "/tmp/qrt118kp")}
    assert all("generalisation to /tmp/* withheld" in item["note"] for item in refused.values())
    assert result["report"].count("generalisation to /tmp/* withheld") == 2


def test_seccomp_calls_the_profile_allows_only_conditionally_are_refused():
    """socket(AF_VSOCK) is logged under a profile that allows socket except AF_VSOCK: allowing socket outright would
    admit what Docker's default blocks."""
    profile = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
    ]}
    events = [{"syscall": name, "nr": nr, "arch": "x86_64", "count": 1} for name, nr in
              (("socket", 41), ("getpid", 39))]
    result = _widen.widen("seccomp", profile, events)
    assert [item["key"] for item in result["added"]] == ["getpid"]
    (refused,) = result["refused"]
    assert refused["key"] == "socket" and refused["category"] == "guard"
    assert "only with argument conditions" in refused["reason"]
    approved = _widen.widen("seccomp", profile, events, approve=["socket"])
    assert sorted(item["key"] for item in approved["added"]) == ["getpid", "socket"]


def test_refused_items_say_whether_docker_default_blocks_them_too(events):
    result = _widen.widen("apparmor", SPEC, events, baseline="docker_default")
    baseline = {item["key"]: item["baseline"] for item in result["refused"]}
    # docker-default denies mount and writes to /proc/sys/kernel (but shm*): enforcing them as refused changes
    # nothing the container had. It allows writing /etc/shadow, running a shell, raw sockets, every capability.
    assert baseline["mount fstype=tmpfs options=(rw) tmpfs -> /mnt/"] == "blocks"
    assert baseline["@{PROC}/sys/kernel/core_pattern"] == "blocks"
    assert baseline["/etc/shadow"] == "allows"
    assert baseline["/usr/bin/dash"] == "allows"
    assert baseline["network inet raw"] == "allows"
    assert baseline["capability sys_admin"] == "allows"
    assert sorted(result["blockers"]) == sorted(key for key, value in baseline.items() if value != "blocks")
    # Without a baseline nothing is known to be blocked: every refusal needs a decision.
    assert sorted(_widen.widen("apparmor", SPEC, events)["blockers"]) == sorted(baseline)


def test_signals_and_ptrace_across_profiles_are_blocked_by_docker_default_too():
    evts = [event(operation="signal", signal="kill", peer="other", requested_mask="send"),
            event(operation="signal", signal="term", peer="runc", requested_mask="receive"),
            event(operation="ptrace", peer="other", requested_mask="read")]
    result = _widen.widen("apparmor", {"name": "confine-web"}, evts, baseline="docker_default")
    baseline = {item["key"]: item["baseline"] for item in result["refused"]}
    assert baseline == {"signal send kill peer=other": "blocks", "ptrace read peer=other": "blocks"}
    assert result["blockers"] == []


def test_seccomp_refusals_docker_default_blocks_are_not_blockers():
    """keyctl (runuser's pam_keyinit) is blocked by Docker's default as well: enforcing it as refused changes
    nothing; ptrace is allowed by Docker's default on kernels 4.8+ and needs an approval."""
    baseline = _seccomp.docker_default_profile("26.1.5")
    events = [{"syscall": name, "nr": nr, "arch": "x86_64", "count": 1} for name, nr in
              (("keyctl", 250), ("ptrace", 101), ("mount", 165))]
    result = _widen.widen("seccomp", LOG_PROFILE, events, baseline=baseline)
    refused = {item["key"]: item["baseline"] for item in result["refused"]}
    assert refused == {"keyctl": "blocks", "ptrace": "allows", "mount": "blocks"}
    assert result["blockers"] == ["ptrace"]
    with_sys_admin = _widen.widen("seccomp", LOG_PROFILE, events, baseline=baseline,
                                  caps=_widen.container_caps(add=["SYS_ADMIN"]))
    assert sorted(with_sys_admin["blockers"]) == ["mount", "ptrace"]


def test_container_caps():
    assert "CAP_CHOWN" in _widen.container_caps()
    assert "CAP_AUDIT_WRITE" not in _widen.container_caps(drop=["AUDIT_WRITE"])
    assert _widen.container_caps(add=["NET_ADMIN"], drop=["ALL"]) == ["CAP_NET_ADMIN"]


def test_apparmor_4_namespace_and_transition_records_are_refused_with_reasons():
    evts = [event(operation="userns_create", **{"class": "namespace"}),
            event(operation="change_onexec", name="unconfined", **{"class": "file"})]
    result = _widen.widen("apparmor", {"name": "confine-web"}, evts, baseline="docker_default")
    refused = {item["key"]: item for item in result["refused"]}
    assert refused["userns create"]["category"] == "guard" and "user namespaces" in refused["userns create"]["reason"]
    assert refused["userns create"]["baseline"] == "allows"
    assert refused["change_onexec unconfined"]["baseline"] == "blocks"
    approved = _widen.widen("apparmor", {"name": "confine-web"}, evts[:1], approve=["userns create"])
    assert approved["profile"]["extra_rules"] == ["userns create,"]


@pytest.mark.parametrize(
    ("paths", "mask"),
    [
        # The corpus's counter shapes (numbers joined by separators, long hexadecimal counters) written where a
        # hostile trial would write them: never a glob, the literal names are judged.
        (["/var/spool/cron/crontabs/0000000A", "/var/spool/cron/crontabs/0000000B"], "wc"),
        (["/root/.ssh/1.2", "/root/.ssh/1.3"], "wc"),
        (["/home/corpus/.ssh/0.0", "/home/corpus/.ssh/0.1"], "wc"),
        (["/etc/cron.d/00000001000000000000000A", "/etc/cron.d/00000001000000000000000B"], "wc"),
        (["/var/lib/docker/0000000a", "/var/lib/docker/0000000b"], "wc"),
        (["/run/1.2", "/run/1.3"], "wc"),
        (["/dev/shm/0000000A", "/dev/shm/0000000B"], "rm"),
        (["/tmp/1.2", "/tmp/1.3"], "x"),
    ],
)
def test_counter_globs_are_never_admitted_over_sensitive_paths(paths, mask):
    events = [event(operation="open" if mask != "x" else "exec", name=path, requested_mask=mask, denied_mask=mask)
              for path in paths]
    result = _widen.widen("apparmor", {"name": "confine-web"}, {"apparmor": events})
    for entry in result["added"] + result["refused"]:
        assert "[" not in entry["key"] and "*" not in entry["key"], entry
    rules = json.dumps(result["profile"]["filesystem"])
    assert "[0-9" not in rules and "*" not in rules, rules


# ------------------------------------------------------------------------------- opaque profiles (src, content)

OPAQUE_TEXT = "profile confine-web flags=(complain) {\n  /srv/upload/** w,\n}\n"
OPAQUE_EVENTS = [
    # The profile lets the container write /srv/upload: no record of the write, only of the exec that follows.
    event(operation="exec", name="/srv/upload/run", requested_mask="x", denied_mask="x"),
    event(operation="open", name="/var/lib/app/db", requested_mask="w", denied_mask="w"),
    event(operation="open", name="/etc/shadow", requested_mask="r", denied_mask="r"),
    event(operation="capable", capability="net_admin"),
    # Allowed and logged by the profile's own audit rule: nothing to add.
    event(operation="open", name="/var/log/app.log", requested_mask="w", denied_mask="w", mode="AUDIT"),
    event(profile="other", operation="open", name="/data/x", requested_mask="w", denied_mask="w"),
]


def test_text_widening_cannot_judge_what_the_profile_already_admits():
    # Why the runbook does not widen a src or content seed: the text's rules are not known to the guard, so the
    # exec of a file the profile lets the container write (a dropper) is admitted.
    result = _widen.widen("apparmor", OPAQUE_TEXT, OPAQUE_EVENTS, baseline="docker_default")
    assert "/srv/upload/run mrix," in [item["rule"] for item in result["added"]]


@pytest.mark.parametrize("approve", [[], ["/srv/upload/run", "capability net_admin", "/var/lib/app/db w,"]])
def test_an_opaque_profile_is_never_widened_and_every_rule_it_would_need_is_a_blocker(approve):
    result = _widen.widen("apparmor", None, OPAQUE_EVENTS, approve=approve, name="confine-web",
                          baseline="docker_default", opaque=True)
    assert result["added"] == [] and result["profile"] is None and result["format"] == "opaque"
    categories = {item["key"]: item["category"] for item in result["refused"]}
    # Refused by the guard unless approved; approved, it is still not added.
    assert categories == {"/srv/upload/run": "seed", "/var/lib/app/db": "seed",
                          "capability net_admin": "seed" if approve else "guard", "/etc/shadow": "guard"}
    assert not any(item.get("approved") for item in result["refused"])
    assert sorted(result["blockers"]) == sorted(categories)
    assert all(item["baseline"] == "allows" for item in result["refused"])
    seed = next(item for item in result["refused"] if item["key"] == "/var/lib/app/db")
    assert seed["reason"] == _widen.OPAQUE_REASON
    cap = next(item for item in result["refused"] if item["key"] == "capability net_admin")
    assert ("approve cannot add it" in cap["reason"]) == bool(approve)
    assert "**Not widened:**" in result["report"] and "Nothing: the profile is never widened." in result["report"]
    assert "add their key" not in result["report"]


def test_an_opaque_profile_whose_trial_logged_nothing_of_its_own_is_clean():
    result = _widen.widen("apparmor", None, OPAQUE_EVENTS[4:], name="confine-web", baseline="docker_default",
                          opaque=True)
    assert result["added"] == [] and result["refused"] == [] and result["blockers"] == []


def test_a_refusal_of_an_opaque_profile_that_docker_default_blocks_too_is_no_blocker():
    events = [event(operation="open", name="/proc/sys/kernel/core_pattern", requested_mask="w", denied_mask="w")]
    result = _widen.widen("apparmor", None, events, name="confine-web", baseline="docker_default", opaque=True)
    assert [item["baseline"] for item in result["refused"]] == ["blocks"] and result["blockers"] == []


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [("seccomp", "confine-web", "only an AppArmor profile"), ("apparmor", None, "name of the profile")],
)
def test_opaque_needs_an_apparmor_profile_name(kind, name, message):
    with pytest.raises(WidenError, match=message):
        _widen.widen(kind, None, [], name=name, opaque=True)
