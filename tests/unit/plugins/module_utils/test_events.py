"""Unit tests for record parsing, attribution, de-duplication and lost-record detection in _events."""

from __future__ import annotations

import io
import json
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _events
from ansible_collections.confine.docker.plugins.module_utils._events import (
    Attribution,
    Collector,
    SyscallResolver,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "events")
SHADOW = (
    'apparmor="ALLOWED" operation="open" profile="confine-web" name="/etc/shadow" pid=3140 comm="python3" '
    'requested_mask="w" denied_mask="w" fsuid=0 ouid=0'
)


def fixture(name):
    return os.path.join(FIXTURES, name)


def collect_lines(path, collector=None):
    collector = collector or Collector(resolver=SyscallResolver())
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            collector.feed_line(line.rstrip("\n"))
    return collector


def find(events, **match):
    found = [event for event in events if all(event.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, events)
    return found[0]


# ------------------------------------------------------------------------------------------------------ fields


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('apparmor="ALLOWED" pid=12 comm="a b"', {"apparmor": "ALLOWED", "pid": "12", "comm": "a b"}),
        ("name=2F746D702F6120622063 pid=1234", {"name": "/tmp/a b c", "pid": "1234"}),
        ("comm=414243 code=0x50001", {"comm": "ABC", "code": "0x50001"}),
        ("profile=636F6E66696E652D61", {"profile": "confine-a"}),
        ("subj=confine-web (complain) pid=5", {"subj": "confine-web (complain)", "pid": "5"}),
        ("capability=21  capname=\"sys_admin\"", {"capability": "21", "capname": "sys_admin"}),
        ("name=\"/x\" name=\"/y\"", {"name": "/x"}),
        ("msg='op=login res=success' uid=0", {"msg": "op=login res=success", "uid": "0"}),
        ("ouid=0 addr=", {"ouid": "0", "addr": ""}),
        ("name=\"/etc/ABCD\"", {"name": "/etc/ABCD"}),
    ],
)
def test_parse_fields(body, expected):
    assert _events.parse_fields(body) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("type=AVC msg=audit(1700000000.123:456): " + SHADOW, ("AVC", 1700000000, 123, 456)),
        ("node=web01 type=AVC msg=audit(1700000000.123:456): " + SHADOW, ("AVC", 1700000000, 123, 456)),
        ("audit: type=1400 audit(1700000000.001:7): " + SHADOW, ("1400", 1700000000, 1, 7)),
        ("[ 41.22] audit: type=1326 audit(1700000014.000:501): pid=1 code=0x0", ("1326", 1700000014, 0, 501)),
        (
            "Nov 14 22:13:30 web01 kernel: [   12.4] audit: type=1400 audit(1700000010.001:201): " + SHADOW,
            ("1400", 1700000010, 1, 201),
        ),
        (
            "2023-11-14T22:13:32.000000+00:00 web01 kernel: audit: type=1400 audit(1700000012.000:301): " + SHADOW,
            ("1400", 1700000012, 0, 301),
        ),
        (
            "type=SECCOMP msg=audit(1.5:9): pid=1 arch=c000003e syscall=1 code=0x7ffc0000\x1dARCH=x86_64",
            ("SECCOMP", 1, 5, 9),
        ),
    ],
)
def test_split_record(line, expected):
    record = _events.split_record(line)
    assert record[:4] == expected
    assert record[4].startswith(("apparmor=", "pid="))


@pytest.mark.parametrize(
    "line",
    ["", "docker0: port 1(veth1) entered forwarding state", "audit: audit_lost=3 audit_rate_limit=0", "type=AVC"],
)
def test_split_record_ignores_other_lines(line):
    assert _events.split_record(line) is None


# ---------------------------------------------------------------------------------------------------- AppArmor


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (SHADOW, {"mode": "ALLOWED", "operation": "open", "name": "/etc/shadow", "requested_mask": "w",
                  "denied_mask": "w", "profile": "confine-web", "comm": "python3", "pid": 3140}),
        ('apparmor="DENIED" operation="capable" profile="p" pid=2 comm="x" capability=21  capname="sys_admin"',
         {"mode": "DENIED", "capability": "sys_admin", "name": None}),
        ('apparmor="DENIED" operation="capable" profile="p" pid=2 comm="x" capability=16',
         {"capability": "sys_module"}),
        ('apparmor="ALLOWED" operation="create" profile="p" pid=2 comm="ping" family="inet" sock_type="raw" '
         'protocol=1 requested_mask="create" denied_mask="create"',
         {"family": "inet", "sock_type": "raw", "protocol": "icmp", "name": None}),
        ('apparmor="DENIED" operation="create" profile="p" pid=5 comm="tcpdump" family="packet" sock_type="raw" '
         'protocol=768 requested_mask="create" denied_mask="create"',
         {"family": "packet", "protocol": "unknown(768)"}),
        ('apparmor="ALLOWED" operation="signal" profile="p" pid=2 comm="kill" requested_mask="send" '
         'denied_mask="send" signal=term peer="confine-web"',
         {"signal": "term", "peer": "confine-web", "requested_mask": "send"}),
        ('apparmor="ALLOWED" operation="ptrace" profile="p" pid=2 comm="strace" requested_mask="trace" '
         'denied_mask="trace" peer="p"',
         {"operation": "ptrace", "peer": "p", "requested_mask": "trace"}),
        ('apparmor="ALLOWED" operation="mount" info="failed flags match" error=-13 profile="p" name="/mnt/" '
         'pid=2 comm="mount" fstype="tmpfs" srcname="tmpfs" flags="rw"',
         {"name": "/mnt/", "fstype": "tmpfs", "srcname": "tmpfs", "flags": "rw", "error": 13,
          "info": "failed flags match"}),
        ('apparmor="ALLOWED" operation="exec" profile="p" name="/usr/bin/dash" pid=1 comm="python3" '
         'requested_mask="x" denied_mask="x" fsuid=0 ouid=0 target="p//null-/usr/bin/dash"',
         {"target": "p//null-/usr/bin/dash", "name": "/usr/bin/dash"}),
        ('apparmor="AUDIT" operation="getattr" profile="p" name="/proc/1/status" pid=2 comm="x" '
         'requested_mask="r" fsuid=0 ouid=0', {"mode": "AUDIT", "denied_mask": None}),
        ('apparmor="DENIED" operation="open" class="file" profile="p" name="/etc/x" pid=1 comm=707974686F6E2033 '
         'requested_mask="r" denied_mask="r" fsuid=0 ouid=0', {"class": "file", "comm": "python 3"}),
        ('apparmor="ALLOWED" operation="open" profile="p" name="/x" pid=1 comm="a" requested_mask="r" '
         'denied_mask="r" fsuid=0 ouid=0\x1dFSUID="root" OUID="root"', {"name": "/x", "denied_mask": "r"}),
    ],
)
def test_parse_apparmor(body, expected):
    event = _events.parse_apparmor(body)
    for key, value in expected.items():
        assert event[key] == value, key
    assert set(_events.APPARMOR_FIELDS) <= set(event)


@pytest.mark.parametrize(
    "body",
    [
        'apparmor="STATUS" operation="profile_load" profile="unconfined" name="confine-web" pid=2 comm="aa"',
        'apparmor="HINT" operation="open" profile="p" name="/x"',
        'apparmor="ERROR" operation="open" profile="p"',
        'operation="open" profile="p"',
    ],
)
def test_parse_apparmor_skips_non_events(body):
    assert _events.parse_apparmor(body) is None


# ----------------------------------------------------------------------------------------------------- seccomp


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("0x7ffc0000", ("SCMP_ACT_LOG", None)),
        ("0x50001", ("SCMP_ACT_ERRNO", 1)),
        ("0x00050026", ("SCMP_ACT_ERRNO", 38)),
        ("0x80000000", ("SCMP_ACT_KILL_PROCESS", None)),
        ("0x0", ("SCMP_ACT_KILL_THREAD", None)),
        ("0x30000", ("SCMP_ACT_TRAP", None)),
        ("0x7ff00005", ("SCMP_ACT_TRACE", 5)),
        ("0x7fc00000", ("SCMP_ACT_NOTIFY", None)),
        ("0x7fff0000", ("SCMP_ACT_ALLOW", None)),
        ("0x12340000", ("unknown(0x12340000)", None)),
        ("zz", (None, None)),
        (None, (None, None)),
    ],
)
def test_decode_action(code, expected):
    assert _events.decode_action(code) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("c000003e", "x86_64"), ("40000003", "x86"), ("C00000B7", "aarch64"), ("40000028", "arm"),
     ("c0000015", "ppc64le"), ("80000016", "s390x"), ("c00000f3", "riscv64"), ("8", "mips"), ("deadbeef", None),
     (None, None)],
)
def test_audit_arch(value, expected):
    assert _events.audit_arch(value) == expected


@pytest.mark.parametrize(
    ("nr", "arch", "name"),
    [(165, "x86_64", "mount"), (272, "x86_64", "unshare"), (435, "x86_64", "clone3"), (21, "x86", "mount"),
     (280, "aarch64", "bpf"), (40, "aarch64", "mount"), (0x40000000, "x32", "read"), (99999, "x86_64", None),
     (165, "no-such-arch", None)],
)
def test_syscall_resolver_uses_libseccomp(nr, arch, name):
    resolver = SyscallResolver()
    assert resolver.available, resolver.error
    assert resolver.resolve(nr, arch) == name
    assert resolver.resolve(nr, arch) == name  # cached


def test_parse_seccomp_fields():
    body = (
        "auid=4294967295 uid=0 gid=0 ses=4294967295 subj=confine-web (complain) pid=3151 comm=\"mount\" "
        "exe=\"/usr/bin/mount\" sig=0 arch=c000003e syscall=165 compat=0 ip=0x7f8a0c6a3e4a code=0x7ffc0000"
    )
    event = _events.parse_seccomp(body, SyscallResolver())
    assert event == {
        "syscall": "mount", "nr": 165, "arch": "x86_64", "action": "SCMP_ACT_LOG", "errno": None,
        "code": "0x7ffc0000", "comm": "mount", "exe": "/usr/bin/mount", "profile": "confine-web", "pid": 3151,
    }


def test_parse_seccomp_without_libseccomp_uses_enriched_name():
    body = ("pid=5201 comm=\"keyctl\" exe=\"/usr/bin/keyctl\" sig=0 arch=c000003e syscall=250 compat=0 ip=0x1 "
            "code=0x50001\x1dAUID=\"unset\" ARCH=x86_64 SYSCALL=keyctl")
    event = _events.parse_seccomp(body, resolver=None)
    assert (event["syscall"], event["nr"], event["action"], event["errno"]) == ("keyctl", 250, "SCMP_ACT_ERRNO", 1)
    bare = _events.parse_seccomp(body.split("\x1d", maxsplit=1)[0], resolver=None)
    assert bare["syscall"] is None and bare["nr"] == 250


# ------------------------------------------------------------------------------------------------------ lost


@pytest.mark.parametrize(
    ("line", "kind", "records"),
    [
        ("[ 41.4] kauditd_printk_skb: 14 callbacks suppressed", "printk-ratelimit", 14),
        ("[ 41.4] audit_printk_skb: 117 callbacks suppressed", "printk-ratelimit", 117),
        ("kernel: audit: audit_lost=3 audit_rate_limit=0 audit_backlog_limit=64", "audit-lost", 3),
        ("kernel: audit: rate limit exceeded", "audit-rate-limit", None),
        ("kernel: audit: backlog limit exceeded", "audit-backlog", None),
        ("kernel: audit: kauditd hold queue overflow", "audit-backlog", None),
        ('{"MESSAGE": "Missed 12 kernel messages"}', "journal-missed", 12),
        ("rsyslogd: imjournal: 57 messages lost due to rate-limiting (20000 allowed)", "syslog-ratelimit", 57),
    ],
)
def test_lost_notice(line, kind, records):
    notice = _events.lost_notice(line)
    assert notice[:2] == (kind, records)


@pytest.mark.parametrize(
    "line", ["audit: audit_lost=0 audit_rate_limit=0", "net_ratelimit: 3 callbacks suppressed", "type=AVC msg=x"]
)
def test_lost_notice_ignores(line):
    assert _events.lost_notice(line) is None


# ------------------------------------------------------------------------------------------------ attribution

CID = "4f1c0d2b3a5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12:pids:/docker/%s\n0::/system.slice/containerd.service\n" % CID, CID),
        ("0::/system.slice/docker-%s.scope\n" % CID, CID),
        ("0::/user.slice/user-0.slice/session-3.scope\n", None),
        ("", None),
    ],
)
def test_container_id_from_cgroup(text, expected):
    assert _events.container_id_from_cgroup(text) == expected


def test_attribution_by_pid_profile_and_trial(tmp_path):
    (tmp_path / "3101").mkdir()
    (tmp_path / "3101" / "cgroup").write_text("13:memory:/docker/%s\n" % CID)
    (tmp_path / "4000").mkdir()
    (tmp_path / "4000" / "cgroup").write_text("0::/init.scope\n")
    containers = [
        {"id": CID, "name": "web", "apparmor_profile": "custom-web"},
        {"id": "a" * 64, "name": "db", "apparmor_profile": "docker-default"},
    ]
    attribution = Attribution(containers, proc=str(tmp_path), trial={"container": "trial", "start": 100, "end": 200})
    assert attribution.for_pid(3101) == "web"
    assert attribution.for_pid(4000) is None
    assert attribution.for_pid(99999) is None
    assert attribution.for_profile("custom-web") == "web"
    assert attribution.for_profile("confine-api") == "api"
    assert attribution.for_profile("custom-web//null-/usr/bin/setpriv") == "web"
    assert attribution.for_profile("confine-api//null-/usr/bin/python3.11") == "api"
    assert attribution.for_profile("docker-default") is None
    assert attribution.for_profile("confine-") is None
    log = {"pid": 99999, "profile": None, "action": "SCMP_ACT_LOG"}
    assert attribution.for_seccomp(log, 150) == "trial"
    assert attribution.for_seccomp(log, 250) is None
    assert attribution.for_seccomp(dict(log, action="SCMP_ACT_ERRNO"), 150) is None
    assert attribution.for_seccomp(dict(log, pid=3101), 250) == "web"
    assert attribution.for_seccomp(dict(log, profile="confine-api"), 250) == "api"
    unknown = Attribution([], proc=str(tmp_path))
    (tmp_path / "3101" / "cgroup").write_text("0::/system.slice/docker-%s.scope\n" % CID)
    assert unknown.for_pid(3101) == CID[:12]


# -------------------------------------------------------------------------------------------------- collector


def test_collector_on_auditd_fixture():
    collector = collect_lines(fixture("audit.log"))
    result = collector.result()
    apparmor, seccomp = result["apparmor"], result["seccomp"]
    # STATUS, USER_AVC, SYSCALL, ... lines are not events; one SECCOMP record appears twice.
    assert result["stats"]["duplicates"] == 1
    assert result["lost"] == []
    records = find(apparmor, name="/var/lib/app/records.db")
    assert (records["count"], records["requested_mask"], records["container"]) == (2, "wc", "web")
    assert (records["first_seen"], records["last_seen"]) == ("2023-11-14T22:13:30.001Z", "2023-11-14T22:13:30.002Z")
    assert find(apparmor, name="/var/lib/app/my data.json")["requested_mask"] == "r"
    assert find(apparmor, capability="sys_admin")["operation"] == "capable"
    assert find(apparmor, family="inet")["protocol"] == "icmp"
    assert find(apparmor, operation="signal")["signal"] == "term"
    assert find(apparmor, operation="ptrace")["peer"] == "confine-web"
    assert find(apparmor, operation="mount")["fstype"] == "tmpfs"
    assert find(apparmor, profile="confine-db", mode="DENIED")["name"] == "/etc/ssl/private/db.key"
    assert not [e for e in apparmor if e["operation"] in ("profile_load", "dbus_method_call")]
    assert len(apparmor) == 17
    clone3 = find(seccomp, syscall="clone3")
    assert (clone3["count"], clone3["container"], clone3["action"]) == (2, "web", "SCMP_ACT_LOG")
    keyctl = find(seccomp, syscall="keyctl")
    assert (keyctl["action"], keyctl["errno"], keyctl["profile"], keyctl["container"]) == (
        "SCMP_ACT_ERRNO", 1, "docker-default", None)
    legacy = find(seccomp, comm="legacy")
    assert (legacy["syscall"], legacy["arch"], legacy["count"], legacy["action"]) == (
        "mount", "x86", 1, "SCMP_ACT_KILL_PROCESS")
    assert len(seccomp) == 5


def test_collector_on_kernel_log_fixture_reports_lost_records():
    result = collect_lines(fixture("kern.log")).result()
    assert {e["name"] or e["capability"] for e in result["apparmor"]} == {
        "/var/lib/app/records.db", "net_bind_service", None, "/etc/shadow"}
    assert {e["syscall"] for e in result["seccomp"]} == {"unshare", "mount"}
    lost = {entry["kind"]: entry for entry in result["lost"]}
    assert set(lost) == {"printk-ratelimit", "audit-lost", "audit-backlog", "syslog-ratelimit"}
    assert lost["printk-ratelimit"]["records"] == 14
    assert lost["audit-lost"]["records"] == 3
    assert lost["audit-backlog"]["records"] is None


def test_collector_on_dmesg_fixture():
    result = collect_lines(fixture("dmesg.txt")).result()
    by_name = {e["syscall"]: e for e in result["seccomp"]}
    assert set(by_name) == {"unshare", "clone3", "bpf", "read"}
    assert (by_name["bpf"]["arch"], by_name["bpf"]["action"]) == ("aarch64", "SCMP_ACT_TRAP")
    assert by_name["read"]["arch"] == "x32"
    assert by_name["unshare"]["container"] == "web"
    assert [e["target"] for e in result["apparmor"]] == ["confine-web//null-/usr/bin/dash"]
    assert {entry["kind"] for entry in result["lost"]} == {"printk-ratelimit", "audit-rate-limit"}


def test_journal_json_and_export_agree_and_deduplicate_transports():
    from_json = collect_lines(fixture("journal.json")).result()
    collector = Collector(resolver=SyscallResolver())
    with open(fixture("journal.export"), "rb") as handle:
        for entry, _end in _events.parse_export(handle):
            collector.feed_journal_entry(entry)
    from_export = collector.result()
    assert from_json == from_export
    # The kernel and the audit transport each carry the /etc/shadow and the mount record: counted once.
    assert from_json["stats"]["duplicates"] == 2
    assert find(from_json["apparmor"], name="/etc/shadow")["count"] == 1
    assert find(from_json["seccomp"], syscall="mount")["count"] == 1
    assert find(from_json["apparmor"], capability="sys_module")["mode"] == "DENIED"
    assert [entry["kind"] for entry in from_json["lost"]] == ["journal-missed"]


def test_same_record_from_two_sources_counts_once():
    collector = collect_lines(fixture("kern.log"))
    collect_lines(fixture("audit.log"), collector)
    result = collector.result()
    assert find(result["apparmor"], name="/etc/shadow")["count"] == 1
    assert find(result["apparmor"], name="/var/lib/app/records.db")["count"] == 2
    assert find(result["seccomp"], syscall="unshare")["count"] == 1


def test_journal_entry_with_byte_array_message():
    message = list(("audit: type=1400 audit(1700000012.000:301): " + SHADOW).encode())
    collector = Collector()
    collector.feed_line(json.dumps({"__CURSOR": "s=1", "_TRANSPORT": "kernel", "MESSAGE": message}))
    assert find(collector.result()["apparmor"], name="/etc/shadow")["count"] == 1


@pytest.mark.parametrize(
    ("kwargs", "apparmor", "seccomp"),
    [
        ({"profiles": ["confine-db"]}, 2, 0),
        ({"containers": ["web"]}, 15, 3),
        ({"containers": ["nothing"]}, 0, 0),
        ({"profiles": ["confine-web"], "containers": ["web"]}, 15, 3),
    ],
)
def test_collector_filters(kwargs, apparmor, seccomp):
    collector = collect_lines(fixture("audit.log"), Collector(resolver=SyscallResolver(), **kwargs))
    result = collector.result()
    assert (len(result["apparmor"]), len(result["seccomp"])) == (apparmor, seccomp)
    assert result["stats"]["filtered"] > 0


def test_profile_filter_keeps_child_profiles():
    collector = Collector(profiles=["confine-web"])
    child = SHADOW.replace('profile="confine-web"', 'profile="confine-web//null-/usr/bin/setpriv"')
    collector.feed_record("AVC", 1700000000, 0, 1, child)
    collector.feed_record("AVC", 1700000000, 0, 2, SHADOW.replace("confine-web", "confine-webby"))
    events = collector.result()["apparmor"]
    assert [(e["profile"], e["container"]) for e in events] == [("confine-web//null-/usr/bin/setpriv", "web")]


def test_comm_sample_is_bounded():
    collector = Collector()
    for serial in range(20):
        body = SHADOW.replace('comm="python3"', 'comm="c%d"' % serial)
        collector.feed_record("AVC", 1700000000, 0, serial, body)
    event = collector.result()["apparmor"][0]
    assert event["count"] == 20
    assert event["comm"] == ["c%d" % n for n in range(_events.COMM_SAMPLE)]


def test_scan_stream_leaves_partial_line_and_skips_irrelevant_lines():
    line = "type=AVC msg=audit(1700000012.000:301): " + SHADOW + "\n"
    noise = "type=SYSCALL msg=audit(1700000012.000:301): arch=c000003e syscall=257\n"
    data = (noise * 3 + line + noise + line.replace(":301", ":302")[:50]).encode()
    collector = Collector()
    consumed = _events.scan_stream(io.BytesIO(data), collector, block_size=64)
    assert consumed == len((noise * 3 + line + noise).encode())
    assert collector.result()["stats"]["records"] == 1


def test_parse_export_stops_at_incomplete_entry():
    binary = b"MESSAGE\n" + (5).to_bytes(8, "little") + b"b\nc d\n"
    data = b"__CURSOR=s=1\nMESSAGE=a\n\n__CURSOR=s=2\n" + binary + b"\n__CURSOR=s=3\n"
    entries = list(_events.parse_export(io.BytesIO(data)))
    assert [entry for entry, _end in entries] == [
        {"__CURSOR": "s=1", "MESSAGE": "a"},
        {"__CURSOR": "s=2", "MESSAGE": "b\nc d"},
    ]
    assert entries[-1][1] == data.index(b"__CURSOR=s=3")


def test_parse_auditctl_status():
    text = "enabled 1\nfailure 1\npid 412\nrate_limit 0\nbacklog_limit 8192\nlost 7\nbacklog 0\nbacklog_wait_time 6\n"
    status = _events.parse_auditctl_status(text)
    assert (status["pid"], status["lost"], status["backlog_limit"]) == (412, 7, 8192)
    assert _events.parse_auditctl_status("") == {}


def test_iso_time():
    assert _events.iso_time(1700000000, 123) == "2023-11-14T22:13:20.123Z"


def test_scan_stream_skips_over_long_lines_in_bounded_memory(monkeypatch):
    monkeypatch.setattr(_events, "LINE_MAX", 256)
    line = "type=AVC msg=audit(1700000012.000:301): " + SHADOW + "\n"
    data = (line + "x" * 5000 + "apparmor=\"ALLOWED\"" + "y" * 5000 + "\n" + line.replace(":301", ":302")).encode()
    collector = Collector()
    consumed = _events.scan_stream(io.BytesIO(data), collector, block_size=64)
    result = collector.result()
    assert consumed == len(data)
    assert result["stats"]["records"] == 2  # the records before and after the long line
    (lost,) = result["lost"]
    assert lost["kind"] == "line-too-long" and lost["occurrences"] == 1


def test_parse_export_refuses_a_field_longer_than_any_journal_field():
    data = b"__CURSOR=s=1\nMESSAGE\n" + (1 << 62).to_bytes(8, "little") + b"x\n\n"
    with pytest.raises(_events.EventsError, match="claims 4611686018427387904 bytes"):
        list(_events.parse_export(io.BytesIO(data)))


def test_syscall_minus_one_is_not_x32():
    event = _events.parse_seccomp("arch=c000003e syscall=-1 code=0x7ffc0000")
    assert event["nr"] == -1 and event["arch"] == "x86_64"
    x32 = _events.parse_seccomp("arch=c000003e syscall=1073741824 code=0x7ffc0000")
    assert x32["arch"] == "x32"
