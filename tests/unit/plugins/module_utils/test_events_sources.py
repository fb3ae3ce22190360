"""Unit tests for _sources: rotation-proof file cursors, journald, /dev/kmsg and source detection."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _sources
from ansible_collections.confine.docker.plugins.module_utils._events import Collector, CursorError, EventsError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "events")


def avc(serial, name="/var/lib/app/data"):
    return (
        'type=AVC msg=audit(1700000000.%03d:%d): apparmor="ALLOWED" operation="open" profile="confine-web" '
        'name="%s" pid=3101 comm="python3" requested_mask="r" denied_mask="r" fsuid=0 ouid=0\n'
        % (serial % 1000, serial, name)
    )


def noise(serial):
    return "type=SYSCALL msg=audit(1700000000.%03d:%d): arch=c000003e syscall=257\n" % (serial % 1000, serial)


def read(paths, since=None, rotations=True, source="audit"):
    collector = Collector()
    cursor, stats = _sources.read_files(paths, collector, since, rotations=rotations, source=source)
    json.dumps(cursor)  # cursors must be JSON-serialisable
    return collector.result(), cursor, stats


def total(result):
    return sum(event["count"] for event in result["apparmor"])


def test_rotated_files_oldest_first(tmp_path):
    for name in ("audit.log", "audit.log.1", "audit.log.2", "audit.log.10.gz", "audit.log.3.gz", "kern.log.1",
                 "audit.log-20231114", "audit.logx"):
        (tmp_path / name).write_text("x\n")
    base = str(tmp_path / "audit.log")
    names = [os.path.basename(path) for path in _sources.rotated_files(base)]
    assert names == ["audit.log.10.gz", "audit.log.3.gz", "audit.log.2", "audit.log.1", "audit.log-20231114",
                     "audit.log"]
    assert _sources.rotated_files(str(tmp_path / "missing.log")) == []


def test_head_hash(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"")
    assert _sources.head_hash(str(path)) is None
    path.write_bytes(b"partial first line")
    assert _sources.head_hash(str(path)) is None
    path.write_bytes(b"first\nsecond\n")
    first = _sources.head_hash(str(path))
    path.write_bytes(b"first\nother\n")
    assert _sources.head_hash(str(path)) == first
    gz = tmp_path / "log.1.gz"
    gz.write_bytes(gzip.compress(b"first\nsecond\n"))
    assert _sources.head_hash(str(gz)) == first


def test_incremental_reads_only_new_lines_and_waits_for_partial_line(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(noise(1) + avc(2) + noise(3) + avc(4))
    result, cursor, stats = read([str(log)])
    assert total(result) == 2 and stats["bytes"] == log.stat().st_size
    # Nothing new: nothing read.
    again, cursor2, stats = read([str(log)], cursor)
    assert total(again) == 0 and stats["files"] == 0 and cursor2["files"] == cursor["files"]
    # A record being written: its first half is left for the next run.
    line = avc(5)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(avc(6) + line[:40])
    partial, cursor3, _stats = read([str(log)], cursor2)
    assert total(partial) == 1
    assert cursor3["files"][0]["offset"] == log.stat().st_size - 40
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(line[40:])
    rest, _cursor4, _stats = read([str(log)], cursor3)
    assert total(rest) == 1 and rest["apparmor"][0]["first_seen"].endswith(".005Z")


def test_rotation_by_rename_is_followed_without_double_counting(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(avc(1) + avc(2))
    _result, cursor, _stats = read([str(log)])
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(avc(3))  # written just before the rotation
    os.rename(log, tmp_path / "audit.log.1")
    log.write_text(avc(4) + avc(5))
    result, cursor, _stats = read([str(log)], cursor)
    assert total(result) == 3
    # auditd rotates again and the old file is compressed (new inode, same content): nothing is read twice.
    os.rename(tmp_path / "audit.log.1", tmp_path / "audit.log.2")
    (tmp_path / "audit.log.2.gz").write_bytes(gzip.compress((tmp_path / "audit.log.2").read_bytes()))
    os.unlink(tmp_path / "audit.log.2")
    os.rename(log, tmp_path / "audit.log.1")
    log.write_text(avc(6))
    result, cursor, _stats = read([str(log)], cursor)
    assert total(result) == 1
    names = [os.path.basename(item["path"]) for item in cursor["files"]]
    assert names == ["audit.log.2.gz", "audit.log.1", "audit.log"]


def test_copytruncate_rotation(tmp_path):
    log = tmp_path / "kern.log"
    log.write_text(avc(1) + avc(2))
    _result, cursor, _stats = read([str(log)], source="kern")
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(avc(3))
    (tmp_path / "kern.log.1").write_bytes(log.read_bytes())  # copy, then truncate in place (same inode)
    log.write_text(avc(4))
    result, _cursor, _stats = read([str(log)], cursor, source="kern")
    assert total(result) == 2


def test_compressed_rotation_read_from_the_cursor(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(avc(1) + avc(2))
    _result, cursor, _stats = read([str(log)])
    (tmp_path / "audit.log.1.gz").write_bytes(gzip.compress(log.read_bytes() + avc(3).encode()))
    log.write_text(avc(4))
    result, _cursor, _stats = read([str(log)], cursor)
    assert total(result) == 2


def test_file_source_reads_exactly_the_given_files(tmp_path):
    log = tmp_path / "trial.log"
    log.write_text(avc(1))
    (tmp_path / "trial.log.1").write_text(avc(2))
    result, cursor, _stats = read([str(log)], rotations=False, source="file")
    assert total(result) == 1 and len(cursor["files"]) == 1
    with pytest.raises(EventsError, match="does not exist"):
        read([str(tmp_path / "nope.log")], rotations=False, source="file")


def test_export_file_is_read_incrementally(tmp_path):
    export = tmp_path / "journal.export"
    with open(os.path.join(FIXTURES, "journal.export"), "rb") as handle:
        data = handle.read()
    blocks = data.split(b"\n\n")
    export.write_bytes(b"\n\n".join(blocks[:3]) + b"\n\n")
    first, cursor, _stats = read([str(export)], rotations=False, source="file")
    assert [e["name"] for e in first["apparmor"]] == ["/etc/shadow"] and first["stats"]["duplicates"] == 1
    export.write_bytes(data)
    second, _cursor, _stats = read([str(export)], cursor, rotations=False, source="file")
    assert [e["capability"] for e in second["apparmor"]] == ["sys_module"]
    assert [(e["nr"], e["arch"]) for e in second["seccomp"]] == [(165, "x86_64")]


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("s=1", "a cursor"),
        ({"version": 9, "source": "audit", "files": []}, "version"),
        ({"version": 1, "source": "journal", "cursor": "s=1"}, "made by source 'journal'"),
        ({"version": 1, "source": "audit"}, "no 'files' list"),
        ({"version": 1, "source": "audit", "files": [{"path": "/x", "offset": -1}]}, "valid offset"),
    ],
)
def test_bad_cursors_are_refused(tmp_path, since, message):
    log = tmp_path / "audit.log"
    log.write_text(avc(1))
    with pytest.raises(CursorError, match=message):
        _sources.collect("audit", Collector(), paths=[str(log)], since=since)


@pytest.mark.parametrize(
    ("since", "source", "message"),
    [
        ("s=1", None, "a cursor"),
        ({"version": 1, "files": []}, None, "names no source"),
        ({"version": 1, "source": "auto", "files": []}, None, "names no source"),
        ({"version": 2, "source": "audit", "files": []}, None, "version 2"),
        ({"version": 1, "source": "audit", "files": []}, "journal", "made by source 'audit' but this call reads"),
        ({"version": 1, "source": "journal", "cursor": ""}, None, "no 'cursor' string"),
        ({"version": 1, "source": "dmesg", "seq": True}, None, "no 'seq' number"),
        ({"version": 1, "source": "kern", "files": [{"path": "/x"}]}, "auto", "valid offset"),
    ],
)
def test_validate_cursor_refuses_without_reading(since, source, message):
    with pytest.raises(CursorError, match=message):
        _sources.validate_cursor(since, source)


@pytest.mark.parametrize(
    "since",
    [
        {"version": 1, "source": "audit", "files": [{"path": "/var/log/audit/audit.log", "offset": 0, "head": "h"}]},
        {"version": 1, "source": "kern", "files": []},
        {"version": 1, "source": "file", "files": []},
        {"version": 1, "source": "journal", "cursor": "s=1;i=2"},
        {"version": 1, "source": "dmesg", "boot_id": "b", "seq": 4},
    ],
)
def test_validate_cursor_names_the_source_that_made_it(since):
    assert _sources.validate_cursor(since) == since["source"]
    assert _sources.validate_cursor(since, "auto") == since["source"]
    assert _sources.validate_cursor(since, since["source"]) == since["source"]


def test_collect_tracks_the_audit_lost_counter(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(avc(1))
    collector = Collector()
    cursor, _stats = _sources.collect("audit", collector, paths=[str(log)], audit_status={"lost": 4})
    assert cursor["audit_lost"] == 4
    assert collector.lost()[0]["records"] == 4 and "since boot" in collector.lost()[0]["message"]
    quiet = Collector()
    cursor, _stats = _sources.collect("audit", quiet, paths=[str(log)], since=cursor, audit_status={"lost": 4})
    assert quiet.lost() == []
    dropped = Collector()
    _sources.collect("audit", dropped, paths=[str(log)], since=cursor, audit_status={"lost": 9})
    assert dropped.lost()[0]["records"] == 5 and "from 4 to 9" in dropped.lost()[0]["message"]


# ------------------------------------------------------------------------------------------------------ journald


def test_journal_command():
    assert _sources.journal_command() == [
        "journalctl", "-o", "json", "--no-pager", "-q", "--output-fields=" + _sources.JOURNAL_FIELDS,
        "_TRANSPORT=kernel", "_TRANSPORT=audit", "_TRANSPORT=driver",
    ]
    argv = _sources.journal_command({"cursor": "s=abc;i=1"})
    assert "--after-cursor=s=abc;i=1" in argv
    with pytest.raises(CursorError):
        _sources.journal_command({"cursor": ""})


def test_read_journal_runs_journalctl_and_returns_the_last_cursor():
    with open(os.path.join(FIXTURES, "journal.json"), encoding="utf-8") as handle:
        text = handle.read()
    calls = []

    def run(argv):
        calls.append(argv)
        if argv == _sources.journal_audit_command():
            return 0, "", ""  # no audit transport this boot: the kernel copies are the records
        return 0, text, ""

    collector = Collector()
    cursor, stats = _sources.collect("journal", collector, run=run)
    last = json.loads(text.splitlines()[-1])["__CURSOR"]
    assert cursor == {"version": 1, "source": "journal", "cursor": last}
    assert stats == {"entries": 8, "kernel_copies": 0, "audit_transport": False}
    result = collector.result()
    assert result["stats"]["duplicates"] == 2 and len(result["seccomp"]) == 1
    # Nothing new: the cursor stays.
    nothing = Collector()
    again, _stats = _sources.collect("journal", nothing, since=cursor, run=lambda argv: (0, "", ""))
    assert again == cursor and nothing.result()["stats"]["records"] == 0
    with pytest.raises(EventsError, match="journalctl failed"):
        _sources.collect("journal", Collector(), run=lambda argv: (1, "", "Failed to seek to cursor"))


def journal_line(number, transport, message, **fields):
    entry = {"__CURSOR": "s=%032x;i=%x;b=%032x;m=1;t=1;x=1" % (7, number, 9), "_TRANSPORT": transport,
             "MESSAGE": message, **fields}
    return json.dumps(entry, separators=(",", ":"))  # journalctl's own layout: no spaces


SECCOMP_BODY = ('auid=4294967295 uid=0 gid=0 ses=4294967295 subj=confine-web//null-/usr/bin/mkdir pid=868 '
                'comm="mkdir" exe="/usr/bin/mkdir" sig=0 arch=c000003e syscall=83 compat=0 ip=0x7fb0 code=0x7ffc0000')


def audit_copy(number, serial):
    return journal_line(number, "audit", "SECCOMP " + SECCOMP_BODY, _AUDIT_TYPE="1326", _AUDIT_ID=str(serial),
                        _SOURCE_REALTIME_TIMESTAMP="1795448700460000")


def kernel_copy(number, serial):
    return journal_line(number, "kernel", "audit: type=1326 audit(1795448700.460:%d): %s" % (serial, SECCOMP_BODY))


def journal_run(batches, audit_transport):
    """A fake journalctl: the audit-transport probe, then one batch of ``-o json`` output per call."""
    batches = list(batches)

    def run(argv):
        if argv == _sources.journal_audit_command():
            return 0, journal_line(1, "audit", "SERVICE_START unit=auditd") + "\n" if audit_transport else "", ""
        return 0, "\n".join(batches.pop(0)) + "\n", ""

    return run


def test_journal_record_is_counted_once_when_its_second_copy_comes_after_the_cursor():
    # journald stores the kernel-log copy and the audit-socket copy of a record independently; here a call reads
    # the kernel copy of record 221, and its audit copy is stored after that call's cursor.
    run = journal_run([[audit_copy(10, 220), kernel_copy(11, 221)], [audit_copy(12, 221)]], audit_transport=True)
    first = Collector()
    cursor, stats = _sources.collect("journal", first, run=run)
    assert (stats["kernel_copies"], stats["audit_transport"]) == (1, True)
    second = Collector()
    _sources.collect("journal", second, since=cursor, run=run)
    total = sum(e["count"] for e in first.result()["seccomp"]) + sum(e["count"] for e in second.result()["seccomp"])
    assert total == 2  # records 220 and 221, once each
    assert [e["nr"] for e in second.result()["seccomp"]] == [83]


def test_journal_without_audit_transport_reads_the_kernel_copies():
    run = journal_run([[kernel_copy(11, 221), kernel_copy(12, 222)]], audit_transport=False)
    collector = Collector()
    _cursor, stats = _sources.collect("journal", collector, run=run)
    assert stats["kernel_copies"] == 0
    assert [(e["nr"], e["count"]) for e in collector.result()["seccomp"]] == [(83, 2)]


def test_journal_kernel_rate_limit_is_no_loss_when_journald_has_the_audit_records():
    # Real journald output: the kernel rate-limits its log copies of audit records, the audit transport has them.
    suppressed = journal_line(13, "kernel", "kauditd_printk_skb: 155 callbacks suppressed")
    missed = journal_line(14, "driver", "Missed 3 kernel messages")
    live = Collector()
    _sources.collect("journal", live, run=journal_run([[audit_copy(10, 220), suppressed, missed]], True))
    assert [entry["kind"] for entry in live.result()["lost"]] == ["journal-missed"]
    assert sum(e["count"] for e in live.result()["seccomp"]) == 1
    kernel_only = Collector()
    _sources.collect("journal", kernel_only, run=journal_run([[kernel_copy(11, 221), suppressed]], False))
    lost = kernel_only.result()["lost"]
    assert [(entry["kind"], entry["records"]) for entry in lost] == [("printk-ratelimit", 155)]


def test_journal_has_audit_transport_needs_a_working_journalctl():
    assert _sources.journal_has_audit_transport(lambda argv: (1, "", "No journal files were found.")) is False
    assert _sources.journal_has_audit_transport(lambda argv: (0, "", "")) is False
    assert _sources.journal_has_audit_transport(lambda argv: (0, journal_line(1, "audit", "x"), "")) is True


# -------------------------------------------------------------------------------------------------------- kmsg


def kmsg(seq, message):
    return ("6,%d,%d,-;%s\n SUBSYSTEM=audit\n" % (seq, seq * 1000, message)).encode()


SECCOMP_MSG = (
    "audit: type=1326 audit(1700000014.010:%d): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=3151 "
    'comm="mount" exe="/usr/bin/mount" sig=0 arch=c000003e syscall=165 compat=0 ip=0x7f8a0c6a3e4a code=0x7ffc0000'
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"6,1234,5678,-;audit: hello\n SUBSYSTEM=x\n", (1234, "audit: hello", True)),
        (b"4,7,1,c;msg;with;semicolons\n", (7, "msg;with;semicolons", True)),
        # Facility 1 (user): what a write to /dev/kmsg from user space gets, whatever prefix it asked for.
        (b"12,8,1,-;audit: type=1400 audit(1.1:1): apparmor=\"ALLOWED\"\n",
         (8, 'audit: type=1400 audit(1.1:1): apparmor="ALLOWED"', False)),
        (b"garbage", None),
        (b"6,x,1,-;m\n", None),
    ],
)
def test_parse_kmsg_record(data, expected):
    assert _sources.parse_kmsg_record(data) == expected


def test_read_kmsg_cursor_and_gaps(tmp_path):
    boot = tmp_path / "boot_id"
    boot.write_text("b-1\n")
    records = [kmsg(10, "Linux version"), kmsg(11, SECCOMP_MSG % 1), kmsg(12, "eth0: link up")]
    collector = Collector()
    cursor, stats = _sources.read_kmsg(collector, boot_id_path=str(boot), records=records)
    assert cursor == {"version": 1, "source": "dmesg", "boot_id": "b-1", "seq": 12} and stats == {"records": 3}
    assert collector.result()["seccomp"][0]["count"] == 1
    # Next call: records up to 12 are skipped; 13..14 were overwritten before this read (gap) and EPIPE is seen.
    later = [*records, None, kmsg(15, SECCOMP_MSG % 2)]
    collector = Collector()
    cursor2, stats = _sources.read_kmsg(collector, since=cursor, boot_id_path=str(boot), records=later)
    assert cursor2["seq"] == 15 and stats == {"records": 1}
    lost = collector.lost()
    assert lost[0]["kind"] == "kmsg-overwritten" and lost[0]["records"] == 2 and lost[0]["occurrences"] == 2
    # After a reboot the old sequence numbers mean nothing: everything is new.
    boot.write_text("b-2\n")
    collector = Collector()
    cursor3, stats = _sources.read_kmsg(collector, since=cursor2, boot_id_path=str(boot), records=records)
    assert cursor3["boot_id"] == "b-2" and stats == {"records": 3} and collector.lost() == []
    with pytest.raises(CursorError):
        _sources.read_kmsg(Collector(), since={"seq": "x"}, boot_id_path=str(boot), records=[])


def test_read_real_kmsg_or_clear_error():
    if os.access("/dev/kmsg", os.R_OK):
        cursor, stats = _sources.read_kmsg(Collector())
        assert cursor["seq"] >= 0 and stats["records"] > 0
    with pytest.raises(EventsError, match="cannot read the kernel log"):
        _sources.read_kmsg(Collector(), path="/nonexistent/kmsg")


# ------------------------------------------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    ("auditd", "journal", "existing", "expected"),
    [
        (True, True, {"/var/log/audit/audit.log", "/var/log/kern.log"}, "audit"),
        (False, True, {"/var/log/audit/audit.log", "/var/log/kern.log"}, "journal"),
        (True, True, set(), "journal"),
        (False, False, {"/var/log/syslog"}, "kern"),
        (False, False, set(), "dmesg"),
    ],
)
def test_detect_source(auditd, journal, existing, expected):
    assert _sources.detect_source(auditd=auditd, journal=journal, exists=existing.__contains__) == expected


def test_auditd_running():
    status = "enabled 1\nfailure 1\npid 412\nlost 0\n"
    assert _sources.auditd_running(lambda argv: (0, status, "")) == (True, {"enabled": 1, "failure": 1, "pid": 412,
                                                                            "lost": 0})
    assert _sources.auditd_running(lambda argv: (0, "enabled 1\npid 0\n", ""))[0] is False
    assert _sources.auditd_running(lambda argv: (127, "", "not found")) == (False, {})


def test_default_paths():
    assert _sources.default_paths("audit") == ["/var/log/audit/audit.log"]
    assert _sources.default_paths("kern", exists={"/var/log/syslog"}.__contains__) == ["/var/log/syslog"]
    assert _sources.default_paths("kern", exists=lambda path: False) == ["/var/log/kern.log"]


def test_collect_refuses_unknown_source_and_file_without_paths():
    with pytest.raises(EventsError, match="unknown source"):
        _sources.collect("nope", Collector())
    with pytest.raises(EventsError, match="needs paths"):
        _sources.collect("file", Collector())


def test_a_fifo_is_refused_as_a_log(tmp_path):
    fifo = tmp_path / "audit.log"
    os.mkfifo(fifo)
    with pytest.raises(EventsError, match="not a regular file"):
        _sources.collect("file", Collector(), paths=[str(fifo)])
