# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where AppArmor and seccomp records are read from, and the cursors that make reading incremental.

Sources: ``audit`` (auditd's log and its rotated files), ``journal`` (journald's kernel and audit transports through
``journalctl -o json``), ``kern`` (kern.log/syslog/messages and their rotations), ``dmesg`` (the kernel ring buffer,
``/dev/kmsg``) and ``file`` (exactly the given files, any supported format).

Cursors are JSON-serialisable dicts:

- files: ``{"version": 1, "source": "audit", "files": [{"path", "dev", "inode", "offset", "head"}], ...}``; a file
  is recognised by ``head`` (a hash of its first line), so a rename, a ``copytruncate`` or a compressed rotation is
  followed without reading anything twice; ``offset`` is the end of the last complete line read;
- journal: ``{"version": 1, "source": "journal", "cursor": "s=..."}``;
- dmesg: ``{"version": 1, "source": "dmesg", "boot_id": "...", "seq": N}``.

Plain Python, no Ansible imports. Commands run through an injectable ``run(argv) -> (rc, stdout, stderr)``.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import os
import re
import stat
import subprocess

from ansible_collections.confine.docker.plugins.module_utils._events import (
    AUDIT_NEEDLES,
    NEEDLES,
    CursorError,
    EventsError,
    journal_text,
    lost_notice,
    parse_auditctl_status,
    parse_export,
    scan_stream,
    split_record,
)

SOURCES = ("auto", "audit", "journal", "kern", "dmesg", "file")
# The line forms (``_events.LINE_FORMS``) each source's records come in; ``file`` takes every form.
SOURCE_FORMS = {"audit": ("audit",), "kern": ("syslog",), "dmesg": ("kmsg",), "journal": ("kmsg",),
                "file": ("audit", "syslog", "kmsg")}
CURSOR_VERSION = 1
AUDIT_LOG = "/var/log/audit/audit.log"
KERN_LOGS = ("/var/log/kern.log", "/var/log/syslog", "/var/log/messages")
KMSG = "/dev/kmsg"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
JOURNAL_RUNTIME = "/run/systemd/journal"
HEAD_BYTES = 4096
JOURNAL_FIELDS = "MESSAGE,_TRANSPORT,_AUDIT_TYPE,_AUDIT_ID,_SOURCE_REALTIME_TIMESTAMP,SYSLOG_FACILITY"
_NEEDLE_TEXT = tuple(needle.decode("ascii") for needle in NEEDLES)


def _subprocess_run(argv):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


# --------------------------------------------------------------------------------------------------------- detection


def auditd_running(run=_subprocess_run):
    """``(running, status)`` from ``auditctl -s`` (a registered auditd has a non-zero ``pid``)."""
    rc, out, _err = run(["auditctl", "-s"])
    if rc != 0:
        return False, {}
    status = parse_auditctl_status(out)
    return bool(status.get("pid")), status


def detect_source(audit_log=AUDIT_LOG, auditd=False, journal=None, kern_logs=KERN_LOGS, exists=os.path.exists):
    """What ``source: auto`` reads: auditd's log when auditd runs, else journald, else a syslog file, else dmesg.

    With auditd registered the kernel sends AppArmor and seccomp records only to auditd; without it they go to the
    kernel log, which journald and syslog daemons copy.
    """
    if auditd and exists(audit_log):
        return "audit"
    if journal is None:
        journal = exists(JOURNAL_RUNTIME)
    if journal:
        return "journal"
    if any(exists(path) for path in kern_logs):
        return "kern"
    return "dmesg"


# ----------------------------------------------------------------------------------------------------- log files


def rotated_files(path):
    """``path`` and its rotations, oldest first: ``path.N[.gz]`` (highest N first), dated ``path-DATE[.gz]``, path."""
    directory = os.path.dirname(path) or "."
    base = os.path.basename(path)
    numbered = []
    dated = []
    pattern = re.compile(r"^%s(?:\.(\d+)|-(\d{8,10}))(\.gz)?$" % re.escape(base))
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        full = os.path.join(directory, name)
        if match.group(1) is not None:
            numbered.append((-int(match.group(1)), full))
        else:
            dated.append((match.group(2), full))
    out = [full for _key, full in sorted(numbered)] + [full for _key, full in sorted(dated)]
    if os.path.exists(path):
        out.append(path)
    return out


def _open(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def head_hash(path):
    """Hash of the file's first line (at most 4096 bytes); None while there is no complete first line."""
    with _open(path) as handle:
        head = handle.readline(HEAD_BYTES)
    if not head or (not head.endswith(b"\n") and len(head) < HEAD_BYTES):
        return None
    return hashlib.sha256(head).hexdigest()[:32]


def _check_files_cursor(since, source):
    if since is None:
        return []
    files = since.get("files")
    if not isinstance(files, list) or not all(isinstance(item, dict) for item in files):
        raise CursorError("the cursor has no 'files' list; pass the cursor an earlier call returned")
    for item in files:
        if not isinstance(item.get("offset"), int) or item["offset"] < 0:
            raise CursorError("cursor entry %r has no valid offset" % (item.get("path"),))
    return files


def read_files(paths, collector, since=None, rotations=True, source="file", needles=NEEDLES):
    """Read ``paths`` (and, with ``rotations``, their rotated files) from the cursor on; return the new cursor.

    A file whose head hash the cursor knows continues at the cursor's offset; any other file is read from its start.
    A file seen twice in one call (``audit.log.1`` and the same content compressed) is read once. Files holding
    ``journalctl -o export`` output are read entry by entry, the others line by line.
    """
    known = {item.get("head"): item for item in _check_files_cursor(since, source) if item.get("head")}
    entries = []
    done = set()
    stats = {"files": 0, "bytes": 0}
    for base in paths:
        candidates = rotated_files(base) if rotations else ([base] if os.path.exists(base) else [])
        if not candidates and not rotations:
            raise EventsError("log file %s does not exist" % base)
        for path in candidates:
            try:
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode):
                    raise EventsError("%s is not a regular file: refusing to read it as a log" % path)
                head = head_hash(path)
            except OSError as exc:
                raise EventsError("cannot read %s: %s" % (path, exc)) from exc
            entry = {"path": path, "dev": st.st_dev, "inode": st.st_ino, "offset": 0, "head": head}
            if head is not None and head in done:
                continue
            previous = known.get(head) if head is not None else None
            start = previous["offset"] if previous else 0
            compressed = path.endswith(".gz")
            if not compressed and start > st.st_size:
                start = 0  # rewritten from the same first line: read it again from the start
            entry["offset"] = start
            if head is not None and (compressed or start < st.st_size):
                try:
                    consumed = _read_from(path, start, collector, needles)
                except OSError as exc:
                    raise EventsError("cannot read %s: %s" % (path, exc)) from exc
                entry["offset"] = start + consumed
                stats["files"] += 1
                stats["bytes"] += consumed
            if head is not None:
                done.add(head)
            entries.append(entry)
    return {"version": CURSOR_VERSION, "source": source, "files": entries}, stats


def _read_from(path, start, collector, needles=NEEDLES):
    """Scan ``path`` from byte ``start`` (of its uncompressed content); return the bytes consumed."""
    with _open(path) as handle:
        export = handle.readline(HEAD_BYTES).startswith(b"__CURSOR=")
        if path.endswith(".gz"):
            handle.seek(0)
            _skip(handle, start)
        else:
            handle.seek(start)
        if not export:
            return scan_stream(handle, collector, needles)
        consumed = 0
        for entry, position in parse_export(handle):
            collector.feed_journal_entry(entry)
            consumed = position - start
        return consumed


def _skip(handle, count):
    while count > 0:
        data = handle.read(min(count, 1 << 20))
        if not data:
            break
        count -= len(data)


# --------------------------------------------------------------------------------------------------------- journald


def journal_command(since=None, journalctl="journalctl"):
    """The ``journalctl`` command that prints the kernel, audit and journald driver entries after the cursor."""
    argv = [journalctl, "-o", "json", "--no-pager", "-q", "--output-fields=" + JOURNAL_FIELDS]
    if since is not None:
        cursor = since.get("cursor")
        if not isinstance(cursor, str) or not cursor:
            raise CursorError("the journal cursor has no 'cursor' string; pass the cursor an earlier call returned")
        argv.append("--after-cursor=" + cursor)
    argv.extend(("_TRANSPORT=kernel", "_TRANSPORT=audit", "_TRANSPORT=driver"))
    return argv


def journal_audit_command(journalctl="journalctl"):
    """The ``journalctl`` command that prints the current boot's last audit-transport entry, if there is one."""
    return [journalctl, "-b", "-n", "1", "-o", "json", "--no-pager", "-q", "--output-fields=_TRANSPORT",
            "_TRANSPORT=audit"]


def journal_has_audit_transport(run=_subprocess_run, journalctl="journalctl"):
    """Whether journald receives the kernel's audit records itself this boot (its audit socket): the current boot
    has audit-transport entries. False when that cannot be told (``journalctl -b`` fails)."""
    rc, out, _err = run(journal_audit_command(journalctl))
    return rc == 0 and any(line.startswith("{") for line in out.splitlines())


def _kernel_copy(entry):
    """True for a kernel-transport entry that is a copy of an audit record, or the kernel's notice that it
    rate-limited such copies (``kauditd_printk_skb: N callbacks suppressed``)."""
    if entry.get("_TRANSPORT") != "kernel":
        return False
    message = journal_text(entry.get("MESSAGE")) or ""
    if split_record(message) is not None:
        return True
    notice = lost_notice(message)
    return notice is not None and notice[0] == "printk-ratelimit"


def feed_journal_output(text, collector, since=None, audit_transport=False):
    """Feed ``journalctl -o json`` output; return the new cursor (the old one when there was nothing new).

    ``audit_transport`` says that journald receives the kernel's audit records itself: every record is then in the
    journal as an audit-transport entry, and the kernel-transport copies (the kernel log, which the kernel
    rate-limits and journald may store before or after the audit copy) are skipped, as are the kernel's notices that
    it suppressed some of them: those records are not lost. Without it the kernel-transport copies are the records.
    """
    cursor = since.get("cursor") if since else None
    last = None
    stats = {"entries": 0, "kernel_copies": 0}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        stats["entries"] += 1
        last = line
        if not any(needle in line for needle in _NEEDLE_TEXT):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if audit_transport and _kernel_copy(entry):
            stats["kernel_copies"] += 1
            continue
        collector.feed_journal_entry(entry)
    if last is not None:
        with contextlib.suppress(ValueError, AttributeError):
            cursor = json.loads(last).get("__CURSOR") or cursor
    return {"version": CURSOR_VERSION, "source": "journal", "cursor": cursor}, stats


def read_journal(collector, since=None, run=_subprocess_run, journalctl="journalctl"):
    """Read the journal after the cursor; return ``(cursor, stats)``.

    Records come from the audit transport when journald receives audit records this boot, else from the kernel
    transport: reading one copy of each record keeps a record from being counted again when its second copy is
    stored after the cursor of the call that counted the first.
    """
    audit_transport = journal_has_audit_transport(run, journalctl)
    rc, out, err = run(journal_command(since, journalctl))
    if rc != 0:
        raise EventsError("journalctl failed (rc=%d): %s" % (rc, (err or out).strip()))
    cursor, stats = feed_journal_output(out, collector, since, audit_transport=audit_transport)
    stats["audit_transport"] = audit_transport
    return cursor, stats


# ------------------------------------------------------------------------------------------------------------ dmesg


def _boot_id(path=BOOT_ID):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def parse_kmsg_record(data):
    """``b"6,1234,5678,-;audit: ...\\n KEY=value\\n"`` -> ``(seq, message, kernel)``; None when malformed.

    ``kernel`` is whether the kernel wrote the record: its facility (the priority's upper bits) is 0. Records that
    user space writes to ``/dev/kmsg`` always get another facility.
    """
    head, sep, rest = data.partition(b";")
    if not sep:
        return None
    parts = head.split(b",")
    if len(parts) < 3 or not parts[1].isdigit() or not parts[0].isdigit():
        return None
    message = rest.split(b"\n", 1)[0]
    return int(parts[1]), message.decode("utf-8", "replace"), int(parts[0]) >> 3 == 0


def kmsg_records(path=KMSG):
    """Yield the raw records of ``/dev/kmsg`` (one per read) until the buffer is drained; ``None`` marks ``EPIPE``.

    ``EPIPE`` means the ring buffer overwrote records before this reader got them.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise EventsError("cannot read the kernel log %s: %s" % (path, exc)) from exc
    try:
        while True:
            try:
                data = os.read(fd, 16384)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    yield None
                    continue
                raise EventsError("reading %s failed: %s" % (path, exc)) from exc
            if not data:
                return
            yield data
    finally:
        os.close(fd)


def _check_kmsg_cursor(since):
    if isinstance(since.get("seq"), bool) or not isinstance(since.get("seq"), int):
        raise CursorError("the dmesg cursor has no 'seq' number; pass the cursor an earlier call returned")


def read_kmsg(collector, since=None, path=KMSG, boot_id_path=BOOT_ID, records=None):
    """Read the kernel ring buffer through ``/dev/kmsg`` after the cursor's sequence number; return the cursor.

    Records the ring buffer overwrote before they were read (a gap in sequence numbers, or ``EPIPE``) are reported
    as lost. ``records`` replaces :func:`kmsg_records` (tests).
    """
    boot_id = _boot_id(boot_id_path)
    after = -1
    if since is not None:
        _check_kmsg_cursor(since)
        if since.get("boot_id") == boot_id:
            after = since["seq"]
    last = after
    first = None
    count = 0
    for data in records if records is not None else kmsg_records(path):
        if data is None:
            collector.add_lost(
                "kmsg-overwritten", None, "kernel ring buffer records were overwritten while they were being read"
            )
            continue
        record = parse_kmsg_record(data)
        if record is None:
            continue
        seq, message, kernel = record
        if seq <= after:
            continue
        if first is None:
            first = seq
        last = seq
        count += 1
        if any(needle in message for needle in _NEEDLE_TEXT):
            if kernel:
                collector.feed_line(message)
            else:
                collector.suspect(message, "kmsg record written by user space")
    if after >= 0 and first is not None and first > after + 1:
        collector.add_lost(
            "kmsg-overwritten",
            first - after - 1,
            "the kernel ring buffer dropped %d records before they were read" % (first - after - 1),
        )
    return {"version": CURSOR_VERSION, "source": "dmesg", "boot_id": boot_id, "seq": last}, {"records": count}


# ----------------------------------------------------------------------------------------------------------- collect


def check_cursor(since, source):
    """Validate a ``since`` cursor against the source it will be used with."""
    if since is None:
        return None
    if not isinstance(since, dict):
        raise CursorError("since must be a cursor (a dict) returned by an earlier call")
    if since.get("version") != CURSOR_VERSION:
        raise CursorError("cursor version %r is not supported (expected %d)" % (since.get("version"), CURSOR_VERSION))
    if since.get("source") != source:
        raise CursorError(
            "the cursor was made by source %r but this call reads %r; use the same source or drop since"
            % (since.get("source"), source)
        )
    return since


def validate_cursor(since, source=None):
    """Check the form of a cursor without reading anything; return the source it was made by.

    The cursor must carry this module's version, name a source (``source`` when that is given and not ``auto``)
    and hold what that source's reader continues from: the files list, the journal cursor or the ring buffer's
    sequence number.
    """
    if not isinstance(since, dict):
        raise CursorError("since must be a cursor (a dict) returned by an earlier call")
    made_by = since.get("source")
    if made_by not in SOURCES or made_by == "auto":
        raise CursorError("the cursor names no source that is read (%r; known: %s)"
                          % (made_by, ", ".join(SOURCES[1:])))
    check_cursor(since, made_by if source in (None, "auto") else source)
    if made_by == "journal":
        journal_command(since)
    elif made_by == "dmesg":
        _check_kmsg_cursor(since)
    else:
        _check_files_cursor(since, made_by)
    return made_by


def default_paths(source, exists=os.path.exists):
    if source == "audit":
        return [AUDIT_LOG]
    if source == "kern":
        for path in KERN_LOGS:
            if exists(path):
                return [path]
        return [KERN_LOGS[0]]
    return []


def collect(source, collector, paths=None, since=None, run=_subprocess_run, kmsg=KMSG, audit_status=None):
    """Read ``source`` into ``collector``; return ``(cursor, stats)``. ``source`` must not be ``auto`` here."""
    since = check_cursor(since, source)
    collector.forms = SOURCE_FORMS.get(source, collector.forms)
    if source in ("audit", "kern"):
        needles = AUDIT_NEEDLES if source == "audit" else NEEDLES
        cursor, stats = read_files(paths or default_paths(source), collector, since, rotations=True, source=source,
                                   needles=needles)
    elif source == "file":
        if not paths:
            raise EventsError("source 'file' needs paths")
        cursor, stats = read_files(paths, collector, since, rotations=False, source="file")
    elif source == "journal":
        cursor, stats = read_journal(collector, since, run)
    elif source == "dmesg":
        cursor, stats = read_kmsg(collector, since, path=(paths or [kmsg])[0])
    else:
        raise EventsError("unknown source %r (known: %s)" % (source, ", ".join(SOURCES)))
    if audit_status is not None and "lost" in audit_status:
        lost_now = audit_status["lost"]
        before = since.get("audit_lost") if since else None
        if isinstance(before, int) and lost_now > before:
            collector.add_lost("audit-lost", lost_now - before, "the kernel dropped %d audit records (auditctl -s lost "
                               "went from %s to %s)" % (lost_now - before, before, lost_now))
        elif before is None and lost_now > 0:
            collector.add_lost("audit-lost", lost_now, "the kernel has dropped %d audit records since boot "
                               "(auditctl -s)" % lost_now)
        cursor["audit_lost"] = lost_now
    return cursor, stats
