# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AppArmor and seccomp audit records: parsing, attribution, de-duplication and lost-record detection.

Plain Python (stdlib only, no Ansible imports): it runs on targets, in the benchmark and in unit tests.

Records arrive in the formats the kernel, auditd and journald write:

- auditd: ``type=AVC msg=audit(1700000000.123:456): apparmor="ALLOWED" ...`` and ``type=SECCOMP msg=audit(...): ...``
  (optionally ``node=HOST`` first and, with ``log_format=ENRICHED``, interpreted fields after a ``\\x1d``);
- kernel log (kern.log/syslog, ``dmesg``, ``/dev/kmsg``, journald's kernel transport):
  ``audit: type=1400 audit(...): apparmor=...`` and ``audit: type=1326 audit(...): ...`` behind any prefix;
- journald's audit transport, ``journalctl -o json`` lines or ``-o export`` blocks: ``MESSAGE=AVC apparmor=...``
  with ``_AUDIT_TYPE``, ``_AUDIT_ID`` and ``_SOURCE_REALTIME_TIMESTAMP``.

:class:`Collector` turns records into de-duplicated events with counts and first/last seen times. The same audit
record read twice (journald keeps the kernel and the audit copy, two sources overlap) is counted once. AppArmor
records are parsed by libapparmor (``LibAppArmor.parse_record``) when it is importable and the record is one its
grammar knows, and by the pure-Python parser otherwise; both give the same event.
"""

from __future__ import annotations

import json
import operator
import re
import time

from ansible_collections.confine.docker.plugins.module_utils._libseccomp import LibseccompError
from ansible_collections.confine.docker.plugins.module_utils._libseccomp import load as load_libseccomp

# ------------------------------------------------------------------------------------------------------------ tables

# Audit record types (linux/audit.h) and the names auditd gives them.
APPARMOR_TYPES = frozenset(
    (
        "AVC",
        "1400",
        "APPARMOR_AUDIT",
        "APPARMOR_ALLOWED",
        "APPARMOR_DENIED",
        "APPARMOR_HINT",
        "APPARMOR_STATUS",
        "APPARMOR_ERROR",
        "APPARMOR_KILL",
        "1501",
        "1502",
        "1503",
        "1504",
        "1505",
        "1506",
        "1507",
    )
)
SECCOMP_TYPES = frozenset(("SECCOMP", "1326"))
AUDIT_TYPE_NAMES = {1400: "AVC", 1326: "SECCOMP", 1107: "USER_AVC"}
# Verdicts that describe an access; STATUS (profile loads), HINT and ERROR are not events.
APPARMOR_VERDICTS = ("ALLOWED", "DENIED", "AUDIT", "KILL")

# AUDIT_ARCH_* (linux/audit.h) -> libseccomp's architecture names.
AUDIT_ARCHES = {
    "c000003e": "x86_64",
    "40000003": "x86",
    "c00000b7": "aarch64",
    "40000028": "arm",
    "00000008": "mips",
    "40000008": "mipsel",
    "80000008": "mips64",
    "c0000008": "mipsel64",
    "a0000008": "mips64n32",
    "e0000008": "mipsel64n32",
    "00000014": "ppc",
    "80000015": "ppc64",
    "c0000015": "ppc64le",
    "00000016": "s390",
    "80000016": "s390x",
    "0000000f": "parisc",
    "8000000f": "parisc64",
    "c00000f3": "riscv64",
    "c0000102": "loongarch64",
}
X32_SYSCALL_BIT = 0x40000000

# SECCOMP_RET_* (linux/seccomp.h) -> the action names of Docker's profile format.
SECCOMP_ACTIONS = {
    0x80000000: "SCMP_ACT_KILL_PROCESS",
    0x00000000: "SCMP_ACT_KILL_THREAD",
    0x00030000: "SCMP_ACT_TRAP",
    0x00050000: "SCMP_ACT_ERRNO",
    0x7FC00000: "SCMP_ACT_NOTIFY",
    0x7FF00000: "SCMP_ACT_TRACE",
    0x7FFC0000: "SCMP_ACT_LOG",
    0x7FFF0000: "SCMP_ACT_ALLOW",
}
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF

# linux/capability.h, by number (kernels log ``capability=N  capname="..."``; old ones only the number).
CAPABILITY_NAMES = (
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
)

# IP protocol numbers as libapparmor names them.
PROTOCOL_NAMES = {
    0: "ip",
    1: "icmp",
    2: "igmp",
    4: "ipip",
    6: "tcp",
    8: "egp",
    12: "pup",
    17: "udp",
    22: "idp",
    29: "tp",
    33: "dccp",
    41: "ipv6",
    43: "routing",
    44: "fragment",
    46: "rsvp",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "icmpv6",
    59: "none",
    60: "dstopts",
    92: "mtp",
    94: "beetph",
    98: "encap",
    103: "pim",
    108: "comp",
    132: "sctp",
    135: "mh",
    136: "udplite",
    137: "mpls",
    143: "ethernet",
    255: "raw",
    262: "mptcp",
}

# Fields the kernel logs with audit_log_untrustedstring: quoted, or hex-encoded when they hold spaces, quotes or
# control characters.
UNTRUSTED_FIELDS = frozenset(
    (
        "name",
        "name2",
        "target",
        "profile",
        "peer",
        "comm",
        "exe",
        "srcname",
        "fstype",
        "label",
        "peer_label",
        "namespace",
        "addr",
        "peer_addr",
        "proctitle",
    )
)

APPARMOR_FIELDS = (
    "profile",
    "mode",
    "operation",
    "class",
    "name",
    "requested_mask",
    "denied_mask",
    "capability",
    "family",
    "sock_type",
    "protocol",
    "signal",
    "peer",
    "target",
    "fstype",
    "srcname",
    "flags",
    "info",
    "error",
)
SECCOMP_FIELDS = ("syscall", "nr", "arch", "action", "errno", "code", "comm", "exe", "profile")
# What makes two records the same event: every field but who did it (pid, and comm for AppArmor) and when.
_APPARMOR_KEY_OF = operator.itemgetter(*APPARMOR_FIELDS)
_SECCOMP_KEY_OF = operator.itemgetter(*SECCOMP_FIELDS)

COMM_SAMPLE = 8  # distinct comm values kept per AppArmor event

# Byte strings that mark a line worth parsing; everything else is skipped without decoding.
# ``apparmor=`` without its quote: journal JSON escapes the quote. ``"SECCOMP `` is journald's audit transport.
RECORD_NEEDLES = (b"apparmor=", b"type=SECCOMP", b"type=1326", b'"SECCOMP ')
# auditd's own log: records are named (never ``type=1326``) and hold no kernel notices. Longer needles search faster.
AUDIT_NEEDLES = (b'apparmor="', b"type=SECCOMP msg=audit(")
LOST_NEEDLES = (
    b"callbacks suppressed",
    b"audit_lost=",
    b"limit exceeded",
    b"kernel messages",
    b"messages lost",
    b"hold queue overflow",
)
NEEDLES = RECORD_NEEDLES + LOST_NEEDLES

# A record is the kernel's only where the line is one, in the form of the log it is read from:
# - "audit": auditd's log line, ``type=AVC msg=audit(...)`` at the start (after an optional ``node=``);
# - "syslog": a kern.log/syslog line of the ``kernel`` tag whose message is ``audit: type=1400 audit(...)`` (after
#   the printk time stamp);
# - "kmsg": the kernel's message itself, as /dev/kmsg, journald's kernel transport and dmesg print it.
# The text of a user-space message (``type=USER_AVC ... msg='...'``, ``type=UNKNOWN[1199] ...``, a process's log
# line) never starts a line of these logs with these, whatever it holds; a line break inside one is escaped by
# auditd (a space), rsyslog (#012) and /dev/kmsg (\x0a), and the forms are not mixed: a continuation line in a
# syslog file is not read as auditd's.
_SYSLOG_PREFIX = (r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
                  r"(?:Z|[+-]\d\d:?\d\d)?) \S+ kernel: ")
_STAMP = r"(?P<sec>\d+)\.(?P<ms>\d+):(?P<serial>\d+)\):\s?"
_KERNEL_MESSAGE = r"(?:\[[^\]\n]*\]\s+)?audit: type=(?P<type>\d+) audit\(" + _STAMP
LINE_FORMS = {
    "audit": re.compile(r"(?:node=\S+ )?type=(?P<type>[A-Z][A-Z0-9_]*|UNKNOWN\[\d+\]|\d+) msg=audit\(" + _STAMP),
    "syslog": re.compile(_SYSLOG_PREFIX + _KERNEL_MESSAGE),
    "kmsg": re.compile(_KERNEL_MESSAGE),
}
ALL_FORMS = ("audit", "syslog", "kmsg")
# Anywhere in a line: what makes a line look like a record (to count the ones that are not the kernel's).
_HEAD_ANYWHERE_RE = re.compile(r"type=([A-Z][A-Z_]*|\d+)\s+(?:msg=)?audit\((\d+)\.(\d+):(\d+)\):\s?")
_MARKER_RE = re.compile(r"apparmor=|type=(?:SECCOMP|1326)\b")
_SUSPECT_PROFILE_RE = re.compile(r"""(?:\bprofile=|\bsubj=)["']?([^\s"']+)""")
SUSPICIOUS_SAMPLES = 3
SAMPLE_CHARS = 300
_FIELD_RE = re.compile(r"([A-Za-z_][\w-]*)=(?:\"([^\"]*)\"|'([^']*)'|([^\s\"']*))")
_SUBJ_RE = re.compile(r"\bsubj=(\S+ \((?:enforce|complain|kill|unconfined|prompt|user)\))")  # label (mode)
_HEX_RE = re.compile(r"(?:[0-9A-F]{2})+")  # an untrusted string the kernel hex-encoded
_JOURNAL_AUDIT_RE = re.compile(r"^([A-Z][A-Z0-9_]*)\s(.*)$", re.S)
# Kernel and syslog notices that mean records were dropped.
_LOST_PATTERNS = (
    ("audit-lost", re.compile(r"\baudit_lost=(\d+)")),
    ("audit-rate-limit", re.compile(r"\baudit: rate limit exceeded")),
    ("audit-backlog", re.compile(r"\baudit: backlog limit exceeded")),
    ("audit-backlog", re.compile(r"\baudit: kauditd hold queue overflow")),
    ("printk-ratelimit", re.compile(r"\b(?:kauditd_printk_skb|audit_printk_skb|audit): (\d+) callbacks suppressed")),
    ("journal-missed", re.compile(r"\bMissed (\d+) kernel messages")),
    ("syslog-ratelimit", re.compile(r"\b(\d+) messages lost due to rate-limiting")),
)


class EventsError(Exception):
    """Base of every error this module raises; the message is meant for the user as it is."""


class CursorError(EventsError, ValueError):
    """A ``since`` cursor that is malformed or belongs to another source."""


# ----------------------------------------------------------------------------------------------------- small helpers


def iso_time(sec, ms=0):
    """``1700000000, 123`` -> ``2023-11-14T22:13:20.123Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(sec))) + ".%03dZ" % int(ms)


def parse_fields(body):
    """Split an audit record body into ``{key: value}``: quotes removed, hex-encoded strings decoded.

    The first occurrence of a key wins. ``subj=label (mode)`` keeps its mode.
    """
    fields = {}
    for key, double, single, plain in _FIELD_RE.findall(body):
        if key in fields:
            continue
        if plain and key in UNTRUSTED_FIELDS and _HEX_RE.fullmatch(plain):
            plain = bytes.fromhex(plain).decode("utf-8", "replace")
        fields[key] = double or single or plain
    if "subj" in fields:
        match = _SUBJ_RE.search(body)
        if match:
            fields["subj"] = match.group(1)
    return fields


def _int(value, base=10):
    if value is None or value == "":
        return None
    try:
        return int(value, base)
    except ValueError:
        return None


def split_record(line, forms=ALL_FORMS):
    """The kernel's audit record that ``line`` is, in one of ``forms`` (see :data:`LINE_FORMS`):
    ``(type, seconds, milliseconds, serial, body)``, or None for any other line. Enriched fields (after ``\\x1d``)
    stay in body.
    """
    for form in forms:
        match = LINE_FORMS[form].match(line)
        if match is not None:
            rtype, sec, ms, serial = match.group("type", "sec", "ms", "serial")
            return rtype, int(sec), int(ms), int(serial), line[match.end() :].rstrip("\r\n")
    return None


def kernel_audit_type(number):
    """Whether an audit record type number is one the kernel writes (user-space messages are 1100-1299 and
    2100-2999; a process with CAP_AUDIT_WRITE can send only those)."""
    return not (1100 <= number <= 1299 or 2100 <= number <= 2999)


def record_kind(rtype, body):
    """``apparmor``, ``seccomp`` or None for an audit record type and body."""
    if rtype in SECCOMP_TYPES:
        return "seccomp"
    if rtype in APPARMOR_TYPES and "apparmor=" in body:
        return "apparmor"
    return None


def lost_notice(line):
    """``(kind, records or None, message)`` when ``line`` reports dropped records, else None."""
    for kind, pattern in _LOST_PATTERNS:
        match = pattern.search(line)
        if match:
            if kind == "audit-lost" and match.group(1) == "0":
                return None
            records = _int(match.group(1)) if match.groups() else None
            message = line.strip()
            head = _HEAD_ANYWHERE_RE.search(message)
            return kind, records, message[head.end() :] if head else message
    return None


# ---------------------------------------------------------------------------------------------------------- AppArmor


def _capability_name(fields):
    capname = fields.get("capname")
    if capname:
        return capname
    number = _int(fields.get("capability"))
    if number is not None and 0 <= number < len(CAPABILITY_NAMES):
        return CAPABILITY_NAMES[number]
    return fields.get("capability")


def _protocol_name(value):
    number = _int(value)
    if number is None:
        return value or None
    return PROTOCOL_NAMES.get(number, "unknown(%d)" % number)


def parse_apparmor(body, fields=None):
    """The AppArmor event in a record body (pure Python). Returns None for STATUS/HINT/ERROR records."""
    if fields is None:
        fields = parse_fields(body.split("\x1d", 1)[0])
    verdict = fields.get("apparmor")
    if verdict not in APPARMOR_VERDICTS:
        return None
    operation = fields.get("operation")
    get = fields.get
    error = _int(get("error"))
    capability = operation == "capable" or "capability" in fields
    network = "family" in fields
    event = {
        "profile": get("profile"),
        "mode": verdict,
        "operation": operation,
        "class": get("class"),
        "name": None if capability else get("name"),
        "requested_mask": get("requested_mask"),
        "denied_mask": get("denied_mask"),
        "capability": _capability_name(fields) if capability else None,
        "family": get("family") if network else None,
        "sock_type": get("sock_type") if network else None,
        "protocol": _protocol_name(get("protocol")) if network else None,
        "signal": get("signal"),
        "peer": get("peer"),
        "target": get("target") or get("name2"),
        "fstype": get("fstype"),
        "srcname": get("srcname"),
        "flags": get("flags"),
        "info": get("info"),
        "error": abs(error) if error else None,
        "pid": _int(get("pid")),
        "comm": get("comm"),
    }
    return event


def load_libapparmor():
    """The ``LibAppArmor`` module (Debian's python3-libapparmor) or None when it is not importable."""
    try:
        import LibAppArmor
    except ImportError:
        return None
    return LibAppArmor


class LibAppArmorParser:
    """AppArmor's own record parser (libapparmor's ``parse_record``), mapped to :func:`parse_apparmor`'s events.

    ``parse`` returns None when libapparmor's grammar does not know the record (newer kernels add fields such as
    ``class=`` that older libapparmor releases reject); the caller then uses the pure-Python parser.
    """

    # aa_record_event_type
    EVENTS = {2: "AUDIT", 3: "ALLOWED", 4: "DENIED"}

    def __init__(self, lib):
        self.lib = lib

    def parse(self, sec, ms, serial, body):
        core = body.split("\x1d", 1)[0]
        record = self.lib.parse_record("type=AVC msg=audit(%d.%03d:%d): %s" % (sec, ms, serial, core))
        try:
            verdict = self.EVENTS.get(record.event)
            if verdict is None or record.audit_sub_id != serial or (record.info and "=" in record.info):
                # Not understood: libapparmor stops at the first unknown key and puts the rest in ``info``.
                return None
            operation = record.operation
            event = {key: None for key in APPARMOR_FIELDS}
            event.update(
                profile=record.profile,
                mode=verdict,
                operation=operation,
                requested_mask=record.requested_mask,
                denied_mask=record.denied_mask,
                signal=record.signal,
                peer=record.peer,
                target=record.name2,
                fstype=record.fs_type,
                srcname=record.src_name,
                flags=record.flags,
                info=record.info,
                error=record.error_code or None,
                pid=record.pid or None,
                comm=record.comm,
            )
            if operation == "capable":
                event["capability"] = record.name
            else:
                event["name"] = record.name
            if record.net_family:
                event["family"] = record.net_family
                event["sock_type"] = record.net_sock_type
                event["protocol"] = record.net_protocol
            return event
        finally:
            self.lib.free_record(record)


# ----------------------------------------------------------------------------------------------------------- seccomp


class SyscallResolver:
    """Syscall number -> name for an architecture, through the host's libseccomp (:mod:`._libseccomp`).

    ``resolve(nr, arch)`` returns None when libseccomp is missing or does not know the number; ``error`` then says
    why (syscalls are reported by number only).
    """

    def __init__(self, lib=None):
        self._cache = {}
        self.error = None
        self._lib = lib
        if lib is None:
            try:
                self._lib = load_libseccomp()
            except LibseccompError as exc:
                self.error = str(exc)

    @property
    def available(self):
        return self._lib is not None

    def resolve(self, nr, arch):
        key = (nr, arch)
        if key in self._cache:
            return self._cache[key]
        name = None
        if self._lib is not None and arch and nr is not None:
            try:
                name = self._lib.resolve_num(nr, arch)
            except LibseccompError:
                name = None
        self._cache[key] = name
        return name


def decode_action(code):
    """``0x7ffc0000`` -> ``("SCMP_ACT_LOG", None)``; ``0x00050001`` -> ``("SCMP_ACT_ERRNO", 1)``."""
    value = _int(code, 16) if isinstance(code, str) else code
    if value is None:
        return None, None
    action = SECCOMP_ACTIONS.get(value & SECCOMP_RET_ACTION_FULL)
    if action is None:
        return "unknown(0x%08x)" % value, None
    data = value & SECCOMP_RET_DATA
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        return action, data
    return action, None


def audit_arch(value):
    """Audit ``arch=c000003e`` -> ``x86_64`` (None when unknown)."""
    if not value:
        return None
    return AUDIT_ARCHES.get(value.lower().rjust(8, "0"))


def parse_seccomp(body, resolver=None, fields=None):
    """The seccomp event in a record body. ``resolver`` (a :class:`SyscallResolver`) names the syscall."""
    core, _sep, enriched = body.partition("\x1d")
    if fields is None:
        fields = parse_fields(core)
    nr = _int(fields.get("syscall"))
    arch = audit_arch(fields.get("arch"))
    if arch == "x86_64" and nr is not None and nr >= 0 and nr & X32_SYSCALL_BIT:
        arch = "x32"
    action, data = decode_action(fields.get("code"))
    name = resolver.resolve(nr, arch) if resolver is not None else None
    if name is None and enriched:
        name = parse_fields(enriched).get("SYSCALL")
    subj = fields.get("subj")
    profile = None
    if subj and subj not in ("unconfined", "kernel"):
        profile = subj.rsplit(" (", 1)[0] if subj.endswith(")") else subj
    return {
        "syscall": name,
        "nr": nr,
        "arch": arch or fields.get("arch"),
        "action": action,
        "errno": data if action == "SCMP_ACT_ERRNO" else None,
        "code": fields.get("code"),
        "comm": fields.get("comm"),
        "exe": fields.get("exe"),
        "profile": profile,
        "pid": _int(fields.get("pid")),
    }


# ------------------------------------------------------------------------------------------------------- attribution


_CGROUP_ID_RE = re.compile(r"(?:/docker/|docker-|/moby/|cri-containerd-|/libpod-|libpod-)([0-9a-f]{64})")


def container_id_from_cgroup(text):
    """The 64-hex container id in ``/proc/<pid>/cgroup`` text (cgroup v1 ``/docker/<id>`` or v2 scope)."""
    match = _CGROUP_ID_RE.search(text or "")
    return match.group(1) if match else None


class Attribution:
    """Maps records to containers.

    ``containers`` is a list of ``{"id", "name", "apparmor_profile"}`` (from ``docker inspect``); ``proc`` is where
    ``/proc`` is (pid -> cgroup -> container id). Profiles named ``<prefix><container>`` (the collection's naming)
    map to that container when no running container claims the profile. ``trial`` (``{"container", "start",
    "end"}``, epoch seconds) attributes otherwise unattributed ``SCMP_ACT_LOG`` records inside the window.
    """

    def __init__(self, containers=None, proc="/proc", profile_prefix="confine-", trial=None):
        self.by_id = {}
        self.by_profile = {}
        for item in containers or ():
            cid = item.get("id") or ""
            name = item.get("name") or cid[:12]
            if cid:
                self.by_id[cid] = name
            profile = item.get("apparmor_profile")
            if profile and profile not in ("unconfined", "docker-default"):
                self.by_profile.setdefault(profile, set()).add(name)
        self.proc = proc
        self.prefix = profile_prefix
        self.trial = trial
        self._pid_cache = {}

    def for_profile(self, profile):
        if not profile:
            return None
        profile = profile.split("//", 1)[0]  # a child (hat, complain-mode null- profile) belongs to its parent
        names = self.by_profile.get(profile)
        if names and len(names) == 1:
            return next(iter(names))
        if self.prefix and profile.startswith(self.prefix) and len(profile) > len(self.prefix):
            return profile[len(self.prefix) :]
        return None

    def for_pid(self, pid):
        if pid is None or self.proc is None:
            return None
        if pid in self._pid_cache:
            return self._pid_cache[pid]
        name = None
        try:
            with open("%s/%d/cgroup" % (self.proc, pid), encoding="utf-8", errors="replace") as handle:
                cid = container_id_from_cgroup(handle.read())
        except OSError:
            cid = None
        if cid:
            name = self.by_id.get(cid, cid[:12])
        self._pid_cache[pid] = name
        return name

    def for_seccomp(self, event, sec):
        name = self.for_pid(event.get("pid")) or self.for_profile(event.get("profile"))
        if name is None and self.trial and event.get("action") == "SCMP_ACT_LOG":
            start = self.trial.get("start")
            end = self.trial.get("end")
            if (start is None or sec >= start) and (end is None or sec <= end):
                name = self.trial.get("container")
        return name


# --------------------------------------------------------------------------------------------------------- collector


class Collector:
    """Accumulates records into de-duplicated events.

    ``profiles``/``containers`` filter the events kept (a container filter drops what cannot be attributed).
    ``libapparmor`` is a :class:`LibAppArmorParser` (or None for the pure-Python parser only); ``resolver`` a
    :class:`SyscallResolver`. ``forms`` are the line forms records are accepted in (:data:`LINE_FORMS`); the
    sources set the one of the log they read.
    """

    def __init__(self, resolver=None, libapparmor=None, attribution=None, profiles=None, containers=None,
                 forms=ALL_FORMS):
        self.forms = tuple(forms)
        self.resolver = resolver
        self.libapparmor = libapparmor
        self.attribution = attribution or Attribution(proc=None)
        self.profiles = set(profiles) if profiles else None
        self.containers = set(containers) if containers else None
        self._seen = set()
        self._apparmor = {}
        self._seccomp = {}
        self._lost = {}
        self._suspicious = {}
        self._result = None
        self.stats = {"records": 0, "duplicates": 0, "filtered": 0, "libapparmor": 0, "python": 0, "suspicious": 0}

    # -- input
    def feed_line(self, line):
        """Feed one line of text in any supported format (audit, kernel log, journal JSON)."""
        if line[:1] == "{":
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                self.feed_journal_entry(entry)
                return
        self._feed_text(line)

    def _feed_text(self, line, suspect_source=None, forms=None):
        record = split_record(line, self.forms if forms is None else forms)
        if record is not None and record_kind(record[0], record[4]):
            self.feed_record(*record)
            return
        notice = lost_notice(line)
        if notice is not None:
            self.add_lost(*notice, when=(record[1], record[2]) if record else None)
            return
        self.suspect(line, suspect_source)

    def feed_journal_entry(self, entry):
        """Feed one journal entry (a ``journalctl -o json`` object or an export block as a dict).

        Only the kernel's entries hold records: the audit transport with a kernel record type, the kernel transport
        with the kernel's facility. journald's own notices (driver) may report lost records. Anything else - a
        process's journal lines, user-space audit messages - is never an event.
        """
        message = journal_text(entry.get("MESSAGE"))
        if message is None:
            return
        transport = entry.get("_TRANSPORT")
        if transport == "audit":
            match = _JOURNAL_AUDIT_RE.match(message)
            rtype = _int(str(entry.get("_AUDIT_TYPE", "")))
            serial = _int(str(entry.get("_AUDIT_ID", "")))
            usec = _int(str(entry.get("_SOURCE_REALTIME_TIMESTAMP") or entry.get("__REALTIME_TIMESTAMP") or ""))
            if match and rtype is not None and serial is not None and usec is not None and kernel_audit_type(rtype):
                type_name = AUDIT_TYPE_NAMES.get(rtype, str(rtype))
                body = match.group(2)
                if record_kind(type_name, body):
                    self.feed_record(type_name, usec // 1000000, (usec // 1000) % 1000, serial, body)
                return
            self.suspect(message, "journal audit type %s" % entry.get("_AUDIT_TYPE"))
        elif transport == "kernel" and str(entry.get("SYSLOG_FACILITY", "0")) == "0":
            self._feed_text(message, "journal kernel message", ("kmsg",))
        elif transport == "driver":
            notice = lost_notice(message)
            if notice is not None:
                self.add_lost(*notice)
            else:
                self.suspect(message, "journal driver entry")
        else:
            self.suspect(message, "journal %s entry" % (transport or "untyped"))

    def suspect(self, line, source=None):
        """Count a line that looks like an AppArmor or seccomp record but is not the kernel's (see split_record)."""
        if not _MARKER_RE.search(line):
            return
        head = _HEAD_ANYWHERE_RE.search(line)
        kind = source or ("type=%s" % head.group(1) if head else "untyped line")
        # The labels it names: the sender's (subj=) and any profile= in its text.
        labels = list(dict.fromkeys(_SUSPECT_PROFILE_RE.findall(line)))[:8]
        filtered = self.profiles is not None or self.containers is not None
        if filtered and not any(self._keep(label, self.attribution.for_profile(label)) for label in labels):
            self.stats["filtered"] += 1
            return
        entry = self._suspicious.get(kind)
        if entry is None:
            entry = self._suspicious[kind] = {"kind": kind, "count": 0, "samples": [], "profiles": []}
        entry["count"] += 1
        self.stats["suspicious"] += 1
        sample = "".join(char if char.isprintable() else "?" for char in line.strip())[:SAMPLE_CHARS]
        if len(entry["samples"]) < SUSPICIOUS_SAMPLES and sample not in entry["samples"]:
            entry["samples"].append(sample)
        for label in labels:
            if label not in entry["profiles"] and len(entry["profiles"]) < 8:
                entry["profiles"].append(label)

    def feed_record(self, rtype, sec, ms, serial, body):
        """Feed one record (the parts :func:`split_record` returns)."""
        core = body.split("\x1d", 1)[0].rstrip()
        key = hash((sec, ms, serial, core))
        if key in self._seen:
            self.stats["duplicates"] += 1
            return
        self._seen.add(key)
        self.stats["records"] += 1
        when = (sec, ms, serial)
        if record_kind(rtype, body) == "seccomp":
            self._add_seccomp(parse_seccomp(body, self.resolver), when)
        else:
            self._add_apparmor(self._parse_apparmor(sec, ms, serial, body), when)

    def add_lost(self, kind, records, message, when=None):
        """Note dropped records: ``records`` is how many when the notice says so, else None."""
        entry = self._lost.get(kind)
        if entry is None:
            entry = self._lost[kind] = {
                "kind": kind,
                "occurrences": 0,
                "records": None,
                "message": message,
                "first_seen": None,
                "last_seen": None,
            }
        entry["occurrences"] += 1
        if records is not None:
            entry["records"] = (entry["records"] or 0) + records
        entry["message"] = message
        if when is not None:
            stamp = iso_time(*when)
            entry["first_seen"] = entry["first_seen"] or stamp
            entry["last_seen"] = stamp

    # -- parsing and aggregation
    def _parse_apparmor(self, sec, ms, serial, body):
        if self.libapparmor is not None:
            event = self.libapparmor.parse(sec, ms, serial, body)
            if event is not None:
                self.stats["libapparmor"] += 1
                return event
        event = parse_apparmor(body)
        if event is not None:
            self.stats["python"] += 1
        return event

    def _keep(self, profile, container):
        if self.profiles is not None and (profile or "").split("//", 1)[0] not in self.profiles:
            return False
        return self.containers is None or container in self.containers

    @staticmethod
    def _merge(table, key, build, when):
        entry = table.get(key)
        if entry is None:
            entry = table[key] = build()
            entry["count"] = 0
            entry["_first"] = entry["_last"] = when
        entry["count"] += 1
        entry["_first"] = min(entry["_first"], when)
        entry["_last"] = max(entry["_last"], when)
        return entry

    def _add_apparmor(self, event, when):
        if event is None:
            return
        container = self.attribution.for_profile(event["profile"])
        if not self._keep(event["profile"], container):
            self.stats["filtered"] += 1
            return
        key = _APPARMOR_KEY_OF(event)

        def build():
            out = dict(zip(APPARMOR_FIELDS, key))
            out["container"] = container
            out["comm"] = []
            return out

        entry = self._merge(self._apparmor, key, build, when)
        comm = event.get("comm")
        if comm and comm not in entry["comm"] and len(entry["comm"]) < COMM_SAMPLE:
            entry["comm"].append(comm)

    def _add_seccomp(self, event, when):
        container = self.attribution.for_seccomp(event, when[0] + when[1] / 1000.0)
        if not self._keep(event["profile"], container):
            self.stats["filtered"] += 1
            return
        values = _SECCOMP_KEY_OF(event)
        key = (*values, container)

        def build():
            out = dict(zip(SECCOMP_FIELDS, values))
            out["container"] = container
            return out

        self._merge(self._seccomp, key, build, when)

    # -- output
    @staticmethod
    def _finish(table, order):
        """The table's entries as output, finished in place (no copies: a large trial's events exist once)."""
        entries = sorted(table.values(), key=order)
        table.clear()
        for entry in entries:
            first, last = entry.pop("_first"), entry.pop("_last")
            entry["first_seen"] = iso_time(first[0], first[1])
            entry["last_seen"] = iso_time(last[0], last[1])
        return entries

    def lost(self):
        return [dict(entry) for _kind, entry in sorted(self._lost.items())]

    def result(self):
        """``{"apparmor", "seccomp", "lost", "suspicious", "stats"}``.

        Call it once, at the end: it finishes the collection.
        """
        if self._result is None:
            self._result = {
                "apparmor": self._finish(
                    self._apparmor,
                    lambda e: (e["profile"] or "", e["operation"] or "", e["name"] or e["capability"] or "",
                               e["_first"]),
                ),
                "seccomp": self._finish(
                    self._seccomp, lambda e: (e["container"] or "", e["syscall"] or "", e["nr"] or 0, e["_first"])
                ),
                "lost": self.lost(),
                "suspicious": [dict(entry) for _kind, entry in sorted(self._suspicious.items())],
                "stats": dict(self.stats),
            }
        return self._result


def journal_text(value):
    if value is None:
        return None
    if isinstance(value, list):  # journalctl -o json writes non-UTF-8 messages as byte arrays
        try:
            return bytes(value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return None
    return str(value)


# ------------------------------------------------------------------------------------------------------ bulk reading


def scan_chunk(chunk, collector, needles=NEEDLES, end=None):
    """Feed the lines of ``chunk[:end]`` (bytes or bytearray of whole lines) that contain a needle to ``collector``.

    Candidate lines are found with ``find`` and only those are decoded and parsed.
    """
    if end is None:
        end = len(chunk)
    starts = set()
    find = chunk.find
    rfind = chunk.rfind
    for needle in needles:
        index = find(needle, 0, end)
        while index >= 0:
            starts.add(rfind(b"\n", 0, index) + 1)
            stop = find(b"\n", index, end)
            if stop < 0:
                break
            index = find(needle, stop, end)
    for start in sorted(starts):
        stop = find(b"\n", start, end)
        line = bytes(chunk[start : stop if stop >= 0 else end])
        collector.feed_line(line.decode("utf-8", "replace"))


# No audit record is longer than this (the kernel's own limit is MAX_AUDIT_MESSAGE_LENGTH, 8970 bytes); a longer
# "line" is not read whole.
LINE_MAX = 1 << 20
EXPORT_FIELD_MAX = 1 << 20


def scan_stream(handle, collector, needles=NEEDLES, block_size=8 << 20):
    """Scan a binary stream from its current position; return the number of bytes consumed.

    Only complete lines are consumed: a last line without its newline is left for the next run. The stream is read
    into one reused buffer, so memory stays at about ``block_size`` whatever the file size.
    """
    buffer = bytearray(block_size)
    view = memoryview(buffer)
    filled = 0
    consumed = 0
    skipping = False  # inside a line longer than LINE_MAX: its bytes are dropped up to its end
    try:
        while True:
            if filled == len(buffer):
                if len(buffer) >= LINE_MAX:
                    # One line longer than any record: drop it (counted), keep memory bounded.
                    if not skipping:
                        collector.add_lost("line-too-long", None, "a line longer than %d bytes was skipped (no record "
                                           "is that long; what it held is not read)" % LINE_MAX)
                    skipping = True
                    consumed += filled
                    filled = 0
                else:  # one line longer than the buffer: grow it
                    view.release()
                    buffer.extend(bytearray(min(len(buffer), LINE_MAX - len(buffer))))
                    view = memoryview(buffer)
            count = handle.readinto(view[filled:])
            if not count:
                break
            total = filled + count
            if skipping:
                first = buffer.find(b"\n", filled, total)
                if first < 0:
                    consumed += total
                    filled = 0
                    continue
                consumed += first + 1
                buffer[: total - first - 1] = view[first + 1 : total]
                filled = 0
                total -= first + 1
                skipping = False
                if total == 0:
                    continue
            last = buffer.rfind(b"\n", filled, total)
            if last < 0:
                filled = total
                continue
            scan_chunk(buffer, collector, needles, last + 1)
            consumed += last + 1
            filled = total - last - 1
            buffer[:filled] = view[last + 1 : total]
    finally:
        view.release()
    return consumed


def parse_export(handle):
    """Iterate over the complete entries of ``journalctl -o export`` output (a binary stream).

    Yields ``(entry, end)``: the entry as a dict of text and the stream position after its closing blank line. A
    last entry without its blank line is incomplete and left for the next run.
    """
    entry = {}
    while True:
        line = handle.readline()
        if not line or not line.endswith(b"\n"):
            break
        if line == b"\n":
            if entry:
                yield entry, handle.tell()
            entry = {}
            continue
        line = line[:-1]
        if b"=" in line:
            key, _sep, value = line.partition(b"=")
            entry[key.decode("ascii", "replace")] = value.decode("utf-8", "replace")
        else:  # binary field: KEY\n<le64 length><data>\n
            size = int.from_bytes(handle.read(8), "little")
            if size > EXPORT_FIELD_MAX:
                field = line[:64].decode("ascii", "replace")
                raise EventsError("journal export field %s claims %d bytes, more than any journal field holds "
                                  "(%d): the export is corrupt" % (field, size, EXPORT_FIELD_MAX))
            value = handle.read(size)
            if len(value) < size or handle.read(1) != b"\n":
                break
            entry[line.decode("ascii", "replace")] = value.decode("utf-8", "replace")


def parse_auditctl_status(text):
    """``auditctl -s`` output -> ``{"enabled", "pid", "lost", "backlog", "backlog_limit", "rate_limit"}`` ints."""
    status = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            status[parts[0]] = int(parts[1])
    return status
