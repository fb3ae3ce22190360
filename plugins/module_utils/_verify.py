# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that a running container is confined the way it was declared.

Every check is a pure function over data the module gathered: ``docker inspect`` JSON, the text of
``/proc/<pid>/status`` and ``/proc/<pid>/attr/apparmor/current`` (or ``attr/current``), the expected seccomp profile,
exit codes of commands run in the container, HTTP statuses and AppArmor events. The AppArmor DENIED records are read
through the event sources of ``confine.docker.security_events`` (``_sources``) into its collector (``_events``). Plain
Python, no Ansible imports.

A check result is a dict ``{check, passed, expected, actual, detail}``.
"""

from __future__ import annotations

import calendar
import json
import math
import os
import re
import shlex

from ansible_collections.confine.docker.plugins.module_utils import _mechanisms
from ansible_collections.confine.docker.plugins.module_utils._events import (
    ALL_FORMS,
    Collector,
    CursorError,
    EventsError,
)
from ansible_collections.confine.docker.plugins.module_utils._sources import (
    KMSG,
    auditd_running,
    collect,
    detect_source,
    head_hash,
    read_files,
    read_kmsg,
    rotated_files,
    validate_cursor,
)

DOCKER_DEFAULT = "docker-default"
APPARMOR_MODES = ("enforce", "complain")

# Linux capability numbers (include/uapi/linux/capability.h).
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)

# The capabilities Docker grants a container that adds and drops nothing (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPABILITIES = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    }
)

SECCOMP_MODES = {"0": "disabled", "1": "strict", "2": "filter"}

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


class VerifyError(ValueError):
    """The expected state given to the checks is not acceptable (bad input, not a failed check)."""


# ---------------------------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------------------------


def normalize_capability(name):
    """``net_admin``, ``CAP_NET_ADMIN``, ``Net_Admin`` -> ``NET_ADMIN``; ``all`` -> ``ALL``."""
    if not isinstance(name, str) or not name.strip():
        raise VerifyError("a capability must be a non-empty string, got %r" % (name,))
    cap = name.strip().upper()
    if cap.startswith("CAP_"):
        cap = cap[4:]
    if cap != "ALL" and cap not in CAPABILITIES:
        raise VerifyError("unknown capability %r" % name)
    return cap


def normalize_capabilities(names):
    return sorted({normalize_capability(name) for name in names or ()})


def _command_argv(command, what):
    """A command is a list of strings (argv) or a string split the way a shell splits words (no shell runs)."""
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise VerifyError("%s %r cannot be split into words: %s" % (what, command, exc)) from exc
    elif isinstance(command, (list, tuple)) and all(isinstance(arg, (str, int, float)) for arg in command):
        argv = [str(arg) for arg in command]
    else:
        raise VerifyError("%s must be a string or a list of strings, got %r" % (what, command))
    if not argv:
        raise VerifyError("%s must not be empty" % what)
    return argv


def parse_time(value):
    """Seconds since the epoch (float) from a number, a numeric string or an RFC 3339 timestamp.

    Docker's timestamps (``2026-01-01T12:00:00.123456789Z``) carry nanoseconds; a timestamp without a zone is UTC.
    """
    if isinstance(value, bool):
        raise VerifyError("a time must be a timestamp or seconds since the epoch, got %r" % (value,))
    if isinstance(value, (int, float)):
        return _finite(float(value), value)
    if not isinstance(value, str) or not value.strip():
        raise VerifyError("a time must be a timestamp or seconds since the epoch, got %r" % (value,))
    text = value.strip()
    try:
        return _finite(float(text), value)
    except ValueError:
        pass
    match = _RFC3339.match(text)
    if not match:
        raise VerifyError("%r is not an RFC 3339 timestamp (2026-01-01T12:00:00Z) nor seconds since the epoch" % value)
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError) as exc:  # pragma: no cover - timegm accepts any tuple of ints
        raise VerifyError("%r is not a valid timestamp: %s" % (value, exc)) from exc
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise VerifyError("%r is not a valid timestamp" % value)
    zone = (match.group(8) or "Z").upper()
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds + fraction


def _finite(seconds, value):
    if not math.isfinite(seconds):
        raise VerifyError("a time must be a finite number of seconds, got %r" % (value,))
    return seconds


# The source of a cursor without a version: the files cursor of earlier releases, ``{"files": [{"path", "offset",
# "dev", "inode"}]}``.
FILES_CURSOR = "files"


def cursor_source(cursor, source="auto"):
    """The source a ``denied_since`` cursor is read from (raises VerifyError when it is malformed).

    A cursor of ``confine.docker.security_events`` (it has a ``version``) is read from the source that made it, which
    must be ``source`` unless that is ``auto``. A cursor without a version is the files cursor of earlier releases:
    a list of ``{path, offset[, dev, inode]}``, read as :data:`FILES_CURSOR`.
    """
    if "version" in cursor:
        try:
            return validate_cursor(cursor, source)
        except CursorError as exc:
            raise VerifyError("denied_since: %s" % exc) from exc
    files = cursor.get("files")
    if not isinstance(files, list) or not files:
        raise VerifyError(
            "a denied_since cursor must be one confine.docker.security_events returned (with 'version' and "
            "'source'), or hold 'files', a list of {path, offset[, inode]}; got %s" % json.dumps(cursor, sort_keys=True)
        )
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].startswith("/"):
            raise VerifyError("each file of a denied_since cursor needs an absolute 'path', got %r" % (entry,))
        offset = entry.get("offset", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise VerifyError(
                "the offset of %s in the denied_since cursor must be a non-negative integer" % entry["path"]
            )
    return FILES_CURSOR


def validate_expected(container, source="auto"):
    """Check one entry of ``containers`` and return it normalized (raises VerifyError on the first problem).

    ``source`` is where DENIED records are read (one of ``_sources.SOURCES``); a cursor must have been made there.
    """
    if not isinstance(container, dict):
        raise VerifyError("each container must be a dict, got %r" % (container,))
    name = container.get("name")
    if not isinstance(name, str) or not name.strip():
        raise VerifyError("each container needs a non-empty 'name'")
    where = "container %s: " % name
    try:
        result = {"name": name}
        apparmor = container.get("apparmor")
        if apparmor is not None and (not isinstance(apparmor, str) or not apparmor.strip()):
            raise VerifyError("'apparmor' must be a profile name or null")
        result["apparmor"] = apparmor
        mode = container.get("apparmor_mode") or "enforce"
        if mode not in APPARMOR_MODES:
            raise VerifyError("'apparmor_mode' must be one of %s, got %r" % (", ".join(APPARMOR_MODES), mode))
        result["apparmor_mode"] = mode
        seccomp = container.get("seccomp")
        is_path = isinstance(seccomp, str) and seccomp.startswith("/")
        if seccomp is not None and seccomp != DOCKER_DEFAULT and not is_path:
            raise VerifyError(
                "'seccomp' must be an absolute path on the host, %r or null, got %r" % (DOCKER_DEFAULT, seccomp)
            )
        result["seccomp"] = seccomp
        result["no_new_privileges"] = bool(container.get("no_new_privileges", True))
        result["privileged"] = bool(container.get("privileged", False))
        caps = container.get("capabilities")
        if caps is not None:
            if not isinstance(caps, dict) or set(caps) - {"add", "drop"}:
                raise VerifyError("'capabilities' must be a dict with 'add' and/or 'drop' lists")
            for key in ("add", "drop"):
                if caps.get(key) is not None and not isinstance(caps[key], (list, tuple)):
                    raise VerifyError("'capabilities.%s' must be a list" % key)
            caps = {"add": normalize_capabilities(caps.get("add")), "drop": normalize_capabilities(caps.get("drop"))}
        result["capabilities"] = caps
        workload = container.get("workload") or []
        if not isinstance(workload, (list, tuple)):
            raise VerifyError("'workload' must be a list of commands")
        result["workload"] = [_command_argv(cmd, "a workload command") for cmd in workload]
        result["health"] = _validate_health(container.get("health"))
        since = container.get("denied_since")
        if isinstance(since, dict):
            cursor_source(since, source)
        elif since is not None and since != "container_start":
            parse_time(since)
        if since is not None and apparmor is None:
            raise VerifyError("'denied_since' counts DENIED records of the container's AppArmor profile: set apparmor")
        result["denied_since"] = since
    except VerifyError as exc:
        raise VerifyError(where + str(exc)) from exc
    return result


def _validate_health(health):
    if health is None:
        return None
    if isinstance(health, str):
        health = {"url": health} if re.match(r"^https?://", health, re.IGNORECASE) else {"command": health}
    if not isinstance(health, dict):
        raise VerifyError("'health' must be a dict with 'url' or 'command'")
    health = {key: value for key, value in health.items() if value is not None}
    if not health:
        return None
    unknown = set(health) - {"url", "command", "status"}
    if unknown:
        raise VerifyError("'health' has unknown keys: %s" % ", ".join(sorted(unknown)))
    if ("url" in health) == ("command" in health):
        raise VerifyError("'health' needs exactly one of 'url' or 'command'")
    if "url" in health:
        url = health["url"]
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
            raise VerifyError("'health.url' must be an http:// or https:// URL, got %r" % (url,))
        status = health.get("status")
        if status is not None:
            statuses = status if isinstance(status, (list, tuple)) else [status]
            try:
                statuses = [int(code) for code in statuses]
            except (TypeError, ValueError) as exc:
                raise VerifyError("'health.status' must be an HTTP status code or a list of them") from exc
            return {"url": url, "status": statuses}
        return {"url": url, "status": None}
    if "status" in health:
        raise VerifyError("'health.status' applies to 'url' only")
    return {"command": _command_argv(health["command"], "'health.command'")}


# ---------------------------------------------------------------------------------------------------------------
# Parsers of what the host shows
# ---------------------------------------------------------------------------------------------------------------


def parse_security_opt(options):
    """Split ``HostConfig.SecurityOpt`` into ``{apparmor, seccomp, no_new_privileges, other}``.

    Docker accepts ``key=value`` and the deprecated ``key:value``; a bare ``no-new-privileges`` means true.
    ``seccomp`` is the raw value: ``unconfined``, ``builtin`` or the profile JSON the CLI read from the file.
    """
    parsed = {"apparmor": None, "seccomp": None, "no_new_privileges": None, "other": []}
    for opt in options or ():
        if opt == "no-new-privileges":
            parsed["no_new_privileges"] = True
            continue
        positions = [pos for pos in (opt.find("="), opt.find(":")) if pos > 0]
        if not positions:
            parsed["other"].append(opt)
            continue
        pos = min(positions)
        key, value = opt[:pos], opt[pos + 1 :]
        if key == "apparmor":
            parsed["apparmor"] = value
        elif key == "seccomp":
            parsed["seccomp"] = value
        elif key == "no-new-privileges":
            parsed["no_new_privileges"] = value.strip().lower() in ("1", "t", "true")
        else:
            parsed["other"].append(opt)
    return parsed


def parse_status(text):
    """``/proc/<pid>/status`` text -> {field: value}."""
    fields = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


# Where the kernel shows a process's AppArmor label: the AppArmor-only file first (it exists since Linux 5.1, with LSM
# stacking, and keeps showing AppArmor's label when another LSM owns the shared file), then the shared one.
APPARMOR_ATTR_FILES = ("/proc/%d/attr/apparmor/current", "/proc/%d/attr/current")


def read_apparmor_label(pid, read):
    """``(text, path)`` of the AppArmor label of process ``pid``, ``(None, None)`` when no file can be read.

    ``read(path)`` returns a file's text or None. The AppArmor-only file wins when it can be read; the shared
    ``attr/current`` is read only on kernels without it.
    """
    for template in APPARMOR_ATTR_FILES:
        path = template % pid
        text = read(path)
        if text is not None:
            return text, path
    return None, None


def parse_attr_current(text):
    """``/proc/<pid>/attr/current`` text -> (profile, mode); ``unconfined`` gives ("unconfined", None).

    Returns None when the text is not an AppArmor label (empty, or another LSM's context).
    """
    if text is None:
        return None
    label = text.replace("\x00", "").strip()
    if not label:
        return None
    if label == "unconfined":
        return ("unconfined", None)
    match = re.match(r"^(.+) \(([a-z_]+)\)$", label)
    if not match:
        return None
    return (match.group(1), match.group(2))


def decode_capabilities(mask):
    """Hex capability mask from /proc status (``CapBnd``) -> sorted capability names (unknown bits as ``CAP_<n>``)."""
    value = int(mask, 16)
    names = []
    bit = 0
    while value:
        if value & 1:
            names.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else "CAP_%d" % bit)
        value >>= 1
        bit += 1
    return sorted(names)


def expected_capabilities(add, drop, known=CAPABILITIES):
    """The bounding set Docker gives for ``--cap-add``/``--cap-drop`` (moby ``caps.TweakCapabilities``).

    ``ALL`` in add: every capability but the dropped ones; ``ALL`` in drop: only the added ones; otherwise Docker's
    defaults without the dropped ones, plus the added ones (an added capability wins over the same one dropped).
    """
    add = set(add or ())
    drop = set(drop or ())
    if "ALL" in add:
        caps = set(known) - drop
    elif "ALL" in drop:
        caps = set(add)
    else:
        caps = (set(DOCKER_DEFAULT_CAPABILITIES) - drop) | add
    caps.discard("ALL")
    return sorted(caps)


def canonical_seccomp(data):
    """Seccomp profile data in one canonical text form (sorted keys), for comparing profiles as data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _seccomp_difference(expected, actual):
    if not isinstance(actual, dict) or not isinstance(expected, dict):
        return "the profiles differ"
    parts = []
    for key in sorted(set(expected) | set(actual)):
        if key == "syscalls":
            continue
        if expected.get(key) != actual.get(key):
            want, have = json.dumps(expected.get(key)), json.dumps(actual.get(key))
            parts.append("%s: expected %s, container has %s" % (key, want, have))
    want = {canonical_seccomp(rule) for rule in expected.get("syscalls") or []}
    have = {canonical_seccomp(rule) for rule in actual.get("syscalls") or []}
    if want != have:
        parts.append(
            "syscalls: %d rule(s) only in the file, %d only in the container" % (len(want - have), len(have - want))
        )
    return "; ".join(parts) or "the profiles differ"


# ---------------------------------------------------------------------------------------------------------------
# AppArmor DENIED records
# ---------------------------------------------------------------------------------------------------------------


class DeniedCollector(Collector):
    """The collector of ``confine.docker.security_events``, keeping the records of ``profiles`` (and their child
    profiles ``<profile>//...``) logged at or after ``since`` (seconds since the epoch; None keeps every record).

    Records carry milliseconds; one logged in the millisecond ``since`` falls in counts when it is not earlier.
    """

    def __init__(self, profiles, since=None):
        super().__init__(profiles=profiles)
        # 1 microsecond of slack: a time read back from the record's own "sec.ms" must not fall before itself.
        self.floor_ms = None if since is None else math.ceil(since * 1000 - 0.001)
        self.stats["earlier"] = 0

    def feed_record(self, rtype, sec, ms, serial, body):
        if self.floor_ms is not None and sec * 1000 + ms < self.floor_ms:
            self.stats["earlier"] += 1
            return
        super().feed_record(rtype, sec, ms, serial, body)


def denied_events(result, profile):
    """The DENIED events of ``profile`` and its child profiles in a collector's ``result()``."""
    return [
        event for event in result["apparmor"]
        if event["mode"] == "DENIED" and (event["profile"] or "").split("//", 1)[0] == profile
    ]


def choose_source(source, since, run, auditctl=True, journalctl=True):
    """Where the DENIED records after ``since`` are read: the source a cursor was made by, else ``source``, with
    ``auto`` resolved the way ``confine.docker.security_events`` resolves it (auditd's log when auditd runs, else
    journald, else a syslog file, else the ring buffer). ``auditctl``/``journalctl``: whether the host has them."""
    if isinstance(since, dict):
        return cursor_source(since, source)
    if source != "auto":
        return source
    running = auditd_running(run)[0] if auditctl else False
    return detect_source(auditd=running, journal=None if journalctl else False)


def _files_cursor_reads(cursor):
    """The reads a cursor of earlier releases stands for, as ``(paths, since, rotations)`` for ``read_files``.

    An entry with an ``inode`` follows rotation: the files of its rotation set (``path``, ``path.1``, ...) the
    cursor knows by inode continue at its offset, the others (written since) are read whole. An entry without an
    inode continues at its offset in its own file only.
    """
    known = {}
    bases = []
    reads = []
    for entry in cursor["files"]:
        offset = entry.get("offset", 0)
        if entry.get("inode") is None:
            if os.path.exists(entry["path"]):
                reads.append(([entry["path"]], {"files": [_continue(entry["path"], offset)]}, False))
            continue
        known[(entry.get("dev"), entry["inode"])] = offset
        base = re.sub(r"\.\d+$", "", entry["path"])
        if base not in bases:
            bases.append(base)
    for base in bases:
        entries = []
        for path in rotated_files(base):
            st = os.stat(path)
            offset = known.get((st.st_dev, st.st_ino), known.get((None, st.st_ino)))
            if offset is not None:
                entries.append(_continue(path, offset))
        reads.append(([base], {"files": entries}, True))
    return reads


def _continue(path, offset):
    return {"path": path, "offset": offset, "head": head_hash(path)}


def read_denied(collector, source, run, since=None, paths=(), also_paths=(), dmesg=False, kmsg=KMSG):
    """Read ``source`` (not ``auto``) into ``collector`` after the cursor ``since``, or whole without one.

    Without a cursor, ``also_paths`` (each with its rotated files) and, with ``dmesg``, the kernel ring buffer are
    read as well; a record found in several places counts once. Returns ``(places, notes)``: what was read, and why
    an additional place could not be. A failure to read ``source`` itself raises EventsError.
    """
    places = []
    if source == FILES_CURSOR:
        for files, cursor, rotations in _files_cursor_reads(since):
            read, _stats = read_files(files, collector, cursor, rotations=rotations)
            places.extend(entry["path"] for entry in read["files"])
        return places, []
    paths = list(paths)
    if source == "file" and not paths and since is not None:
        paths = [entry["path"] for entry in since["files"]]  # the files the cursor was made over
    cursor, _stats = collect(source, collector, paths=paths or None, since=since, run=run, kmsg=kmsg)
    if "files" in cursor:
        places.extend(entry["path"] for entry in cursor["files"])
    else:
        places.append(source)
    notes = []
    if since is None:
        collector.forms = ALL_FORMS
        if also_paths:
            try:
                read, _stats = read_files(list(also_paths), collector, rotations=True)
            except EventsError as exc:
                notes.append(str(exc))
            else:
                places.extend(entry["path"] for entry in read["files"] if entry["path"] not in places)
        if dmesg and source != "dmesg":
            try:
                read_kmsg(collector, path=kmsg)
            except EventsError as exc:
                notes.append(str(exc))
            else:
                places.append("dmesg")
    return places, notes


# ---------------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------------


def _result(check, passed, expected, actual, detail=""):
    return {"check": check, "passed": bool(passed), "expected": expected, "actual": actual, "detail": detail}


def check_exists(inspect, error=None):
    if inspect is None:
        return _result("exists", False, True, False, error or "no such container")
    return _result("exists", True, True, True, "container %s" % inspect.get("Id", "")[:12])


def check_running(inspect):
    state = inspect.get("State") or {}
    status = state.get("Status") or ("running" if state.get("Running") else "not running")
    detail = "" if state.get("Running") else "the kernel-side checks need a running container"
    return _result("running", state.get("Running") is True and not state.get("Paused"), "running", status, detail)


def check_apparmor(inspect, expected):
    """Docker's view: ``apparmor=<name>`` in SecurityOpt and ``.AppArmorProfile`` (empty where AppArmor is off)."""
    opts = parse_security_opt((inspect.get("HostConfig") or {}).get("SecurityOpt"))
    in_opts = opts["apparmor"]
    field = inspect.get("AppArmorProfile") or ""
    actual = {"security_opt": in_opts, "profile": field}
    if field and in_opts and field != in_opts:
        return _result("apparmor", False, expected, actual, "SecurityOpt and AppArmorProfile disagree")
    effective = field or in_opts
    if effective == expected:
        detail = "" if field else "AppArmorProfile is empty: the daemon did not apply AppArmor (kernel without it?)"
        return _result("apparmor", True, expected, actual, detail)
    if effective is None:
        return _result("apparmor", False, expected, actual, "no AppArmor profile is set for the container")
    return _result("apparmor", False, expected, actual, "the container runs under %s" % effective)


def check_apparmor_kernel(attr_text, expected, mode="enforce", source=None):
    """The kernel's view of the container's init process (``/proc/<pid>/attr/apparmor/current`` or
    ``/proc/<pid>/attr/current``, ``source`` naming the file read)."""
    want = "%s (%s)" % (expected, mode)
    where = " (%s)" % source if source else ""
    label = parse_attr_current(attr_text)
    if label is None:
        shown = None if attr_text is None else attr_text.replace("\x00", "").strip()
        return _result(
            "apparmor_kernel",
            False,
            want,
            "not available",
            "the kernel shows no AppArmor label%s (AppArmor disabled or not in this kernel)"
            % ("" if not shown else " (%r)" % shown),
        )
    profile, actual_mode = label
    actual = profile if actual_mode is None else "%s (%s)" % (profile, actual_mode)
    if profile != expected:
        return _result("apparmor_kernel", False, want, actual, "the process runs under another profile" + where)
    if actual_mode != mode:
        return _result("apparmor_kernel", False, want, actual, "the profile is in %s mode%s" % (actual_mode, where))
    return _result("apparmor_kernel", True, want, actual, source or "")


def check_seccomp(inspect, expected, profile=None, profile_error=None):
    """Docker's view of the seccomp profile.

    ``expected`` is ``docker-default`` or the path of the expected profile file, whose parsed JSON is ``profile``
    (``profile_error`` says why it could not be read). The CLI sends the file's content, so SecurityOpt holds
    ``seccomp=<JSON>``; it is compared with the file as data.
    """
    raw = parse_security_opt((inspect.get("HostConfig") or {}).get("SecurityOpt"))["seccomp"]
    if (inspect.get("HostConfig") or {}).get("Privileged"):
        return _result("seccomp", False, expected, "unconfined", "a privileged container gets no seccomp profile")
    if raw is None:
        actual = DOCKER_DEFAULT
    elif raw in ("unconfined", "builtin"):
        actual = raw
    else:
        actual = "custom profile"
    if expected == DOCKER_DEFAULT:
        if raw is None or raw == "builtin":
            detail = "no per-container profile: Docker's built-in default (or the daemon's seccomp-profile)"
            return _result("seccomp", True, expected, actual, detail)
        shown = raw if actual != "custom profile" else "<profile JSON>"
        return _result("seccomp", False, expected, actual, "SecurityOpt has seccomp=%s" % shown)
    if profile_error is not None:
        return _result("seccomp", False, expected, actual, "the expected profile cannot be used: %s" % profile_error)
    if raw is None or actual != "custom profile":
        detail = "the container was not started with --security-opt seccomp=%s" % expected
        return _result("seccomp", False, expected, actual, detail)
    try:
        data = json.loads(raw)
    except ValueError:
        return _result("seccomp", False, expected, actual, "SecurityOpt holds a seccomp value that is not JSON")
    if canonical_seccomp(data) == canonical_seccomp(profile):
        return _result("seccomp", True, expected, "same profile as %s" % expected, "compared as data with SecurityOpt")
    return _result("seccomp", False, expected, "another profile", _seccomp_difference(profile, data))


def check_seccomp_kernel(status):
    value = status.get("Seccomp")
    if value is None:
        return _result("seccomp_kernel", False, "2 (filter)", "not available", "/proc status has no Seccomp field")
    actual = "%s (%s)" % (value, SECCOMP_MODES.get(value, "unknown"))
    detail = "" if value == "2" else "no seccomp filter is applied to the container's process"
    filters = status.get("Seccomp_filters")
    if value == "2" and filters:
        detail = "%s filter(s)" % filters
    return _result("seccomp_kernel", value == "2", "2 (filter)", actual, detail)


def check_privileged(inspect, allowed=False):
    actual = bool((inspect.get("HostConfig") or {}).get("Privileged"))
    if allowed:
        return _result("privileged", True, "allowed", actual, "privileged is allowed for this container")
    detail = "the container runs --privileged: every capability, all devices, no confinement" if actual else ""
    return _result("privileged", not actual, False, actual, detail)


def check_no_new_privileges(inspect, status=None):
    """Docker's view: ``no-new-privileges`` in SecurityOpt (or set daemon-wide, which only the kernel shows)."""
    value = parse_security_opt((inspect.get("HostConfig") or {}).get("SecurityOpt"))["no_new_privileges"]
    if value is True:
        return _result("no_new_privileges", True, True, True)
    if value is None and status is not None and status.get("NoNewPrivs") == "1":
        return _result("no_new_privileges", True, True, "daemon default", "not in SecurityOpt; the kernel shows it set")
    detail = "SecurityOpt sets no-new-privileges=false"
    if value is None:
        detail = "set neither in SecurityOpt nor daemon-wide"
    return _result("no_new_privileges", False, True, bool(value), detail)


def check_no_new_privileges_kernel(status):
    value = status.get("NoNewPrivs")
    if value is None:
        return _result("no_new_privileges_kernel", False, "1", "not available", "/proc status has no NoNewPrivs field")
    detail = "" if value == "1" else "the process can gain privileges through setuid binaries and file capabilities"
    return _result("no_new_privileges_kernel", value == "1", "1", value, detail)


def check_capabilities(inspect, declared):
    """HostConfig.CapAdd/CapDrop against the declared lists (case and ``CAP_`` prefix do not matter)."""
    host = inspect.get("HostConfig") or {}
    actual = {
        "add": normalize_capabilities(host.get("CapAdd")),
        "drop": normalize_capabilities(host.get("CapDrop")),
    }
    if actual == declared:
        return _result("capabilities", True, declared, actual)
    parts = []
    extra = sorted(set(actual["add"]) - set(declared["add"]))
    if extra:
        parts.append("added but not declared: %s" % ", ".join(extra))
    missing = sorted(set(declared["add"]) - set(actual["add"]))
    if missing:
        parts.append("declared but not added: %s" % ", ".join(missing))
    undropped = sorted(set(declared["drop"]) - set(actual["drop"]))
    if undropped:
        parts.append("declared dropped but kept: %s" % ", ".join(undropped))
    more = sorted(set(actual["drop"]) - set(declared["drop"]))
    if more:
        parts.append("dropped but not declared: %s" % ", ".join(more))
    return _result("capabilities", False, declared, actual, "; ".join(parts))


def check_capabilities_kernel(inspect, status, declared=None):
    """The process's bounding set (``CapBnd``) against what Docker grants for the declared (or configured) lists."""
    host = inspect.get("HostConfig") or {}
    if declared is None:
        declared = {
            "add": normalize_capabilities(host.get("CapAdd")),
            "drop": normalize_capabilities(host.get("CapDrop")),
        }
    want = expected_capabilities(declared["add"], declared["drop"])
    mask = status.get("CapBnd")
    if mask is None:
        return _result("capabilities_kernel", False, want, "not available", "/proc status has no CapBnd field")
    have = decode_capabilities(mask)
    if have == want:
        return _result("capabilities_kernel", True, want, have, "CapBnd %s" % mask)
    extra = sorted(set(have) - set(want))
    missing = sorted(set(want) - set(have))
    parts = []
    if extra:
        parts.append("in the bounding set but not declared: %s" % ", ".join(extra))
    if missing:
        parts.append("declared but not in the bounding set: %s" % ", ".join(missing))
    return _result("capabilities_kernel", False, want, have, "; ".join(parts))


def _output_tail(text, limit=400):
    text = (text or "").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def check_command(check, argv, rc, stdout="", stderr=""):
    """A command run in the container (``docker exec``) must exit 0."""
    command = shlex.join(argv)
    detail = command
    if rc != 0:
        output = _output_tail(stderr) or _output_tail(stdout)
        detail = "%s exited %s%s" % (command, rc, (": " + output) if output else "")
    return _result(check, rc == 0, 0, rc, detail)


def check_health_url(url, status=None, error=None, accepted=None):
    """An HTTP probe from the host: a 2xx or 3xx status passes unless ``accepted`` lists the statuses wanted."""
    expected = accepted if accepted else "2xx or 3xx"
    if status is None:
        return _result("health", False, expected, None, "%s: %s" % (url, error or "no answer"))
    passed = status in accepted if accepted else 200 <= status < 400
    return _result("health", passed, expected, status, url if passed else "%s answered %s" % (url, status))


def health_starting(inspect):
    """Whether the container's own health check has not given a result yet (Docker's ``starting``) while it runs."""
    state = inspect.get("State") or {}
    return bool(state.get("Running")) and (state.get("Health") or {}).get("Status") == "starting"


def check_docker_health(inspect):
    """The image's own HEALTHCHECK, when it has one: Docker must report ``healthy``. None without a health check."""
    health = (inspect.get("State") or {}).get("Health")
    if not health:
        return None
    status = health.get("Status")
    detail = ""
    if status != "healthy":
        logs = health.get("Log") or []
        detail = "Docker reports %s and no probe has finished yet" % status
        if logs:
            last = logs[-1]
            detail = "last probe exited %s: %s" % (last.get("ExitCode"), _output_tail(last.get("Output"), 200))
    return _result("docker_health", status == "healthy", "healthy", status, detail)


def _describe_event(event):
    what = event["name"] or event["capability"] or event["signal"] or event["peer"] or event["family"] or ""
    parts = ["profile=%s" % event["profile"]]
    if event.get("denied_mask"):
        parts.append("denied_mask=%s" % event["denied_mask"])
    if event.get("comm"):
        parts.append("comm=%s" % ",".join(event["comm"]))
    return "%s %s (%s) x%d, last %s" % (
        event["operation"], what, " ".join(parts), event["count"], event["last_seen"]
    )


def check_denied(events, since, source, error=None, lost=()):
    """No AppArmor DENIED record of the container's profile since ``since`` (a time or a cursor).

    ``events`` are the collector's DENIED events of the profile (each with its ``count``), ``source`` names the
    places read, ``error`` says why the records could not be read, ``lost`` the kinds of dropped records noticed.
    """
    expected = "0 since %s" % (since if not isinstance(since, dict) else "the cursor")
    if error is not None:
        return _result("denied", False, expected, None, "the records cannot be read: %s" % error)
    count = sum(event["count"] for event in events)
    detail = "searched %s" % source
    if count:
        latest = max(events, key=lambda event: event["last_seen"])
        detail = "%d DENIED record(s) in %s; latest: %s" % (count, source, _describe_event(latest))
    if lost:
        detail += "; records were dropped (%s)" % ", ".join(lost)
    return _result("denied", count == 0, expected, count, detail)


# ---------------------------------------------------------------------------------------------------------------
# One container, all checks
# ---------------------------------------------------------------------------------------------------------------


def _apparmor_check(expected, inspect, facts, status, running):
    del facts, status, running
    return check_apparmor(inspect, expected["apparmor"])


def _apparmor_kernel_check(expected, inspect, facts, status, running):
    del inspect, status
    if not running:
        return None
    return check_apparmor_kernel(facts.get("attr_text"), expected["apparmor"], expected["apparmor_mode"],
                                 facts.get("attr_file"))


def _seccomp_check(expected, inspect, facts, status, running):
    del status, running
    return check_seccomp(inspect, expected["seccomp"], facts.get("seccomp_profile"), facts.get("seccomp_error"))


def _seccomp_kernel_check(expected, inspect, facts, status, running):
    del expected, inspect, facts
    return check_seccomp_kernel(status) if running else None


# The checks the mechanisms own (``Mechanism.verify_checks``), by name: each takes the entry's expectations, the
# container's inspect, the gathered facts, its parsed /proc status and whether it runs; None when it does not apply
# (the kernel's view of a container that is not running).
MECHANISM_CHECKS = {
    "apparmor": _apparmor_check,
    "apparmor_kernel": _apparmor_kernel_check,
    "seccomp": _seccomp_check,
    "seccomp_kernel": _seccomp_kernel_check,
}


def evaluate(expected, facts):
    """All checks of one container.

    ``expected`` comes from validate_expected. ``facts`` holds what the module gathered:
    ``inspect`` (dict or None), ``inspect_error``, ``status_text``, ``attr_text`` (and ``attr_file``, the file it
    came from), ``seccomp_profile`` (data),
    ``seccomp_error``, ``workload`` (list of {rc, stdout, stderr}), ``health`` ({rc, stdout, stderr} for a command,
    {status, error} for a URL), ``denied`` ({events, source, since, error, lost}: see check_denied).
    Returns ``{name, passed, checks}``.
    """
    checks = []
    inspect = facts.get("inspect")
    checks.append(check_exists(inspect, facts.get("inspect_error")))
    if inspect is not None:
        running = check_running(inspect)
        checks.append(running)
        status = parse_status(facts.get("status_text")) if running["passed"] else {}
        # Each mechanism's checks, in registry order, for the mechanisms the entry expects a profile of.
        for mechanism in _mechanisms.REGISTRY.values():
            if expected.get(mechanism.name) is not None:
                for check in mechanism.verify_checks:
                    outcome = MECHANISM_CHECKS[check](expected, inspect, facts, status, running["passed"])
                    if outcome is not None:
                        checks.append(outcome)
        checks.append(check_privileged(inspect, expected["privileged"]))
        if expected["no_new_privileges"]:
            checks.append(check_no_new_privileges(inspect, status if running["passed"] else None))
            if running["passed"]:
                checks.append(check_no_new_privileges_kernel(status))
        if expected["capabilities"] is not None:
            checks.append(check_capabilities(inspect, expected["capabilities"]))
        privileged = bool((inspect.get("HostConfig") or {}).get("Privileged"))
        if running["passed"] and not privileged:
            checks.append(check_capabilities_kernel(inspect, status, expected["capabilities"]))
        runs = facts.get("workload") or []
        for index, argv in enumerate(expected["workload"]):
            name = "workload[%d]" % index
            if index >= len(runs):
                checks.append(_result(name, False, 0, None, "not run: the container is not running"))
            else:
                run = runs[index]
                checks.append(check_command(name, argv, run["rc"], run.get("stdout"), run.get("stderr")))
        health = expected["health"]
        probe = facts.get("health")
        if health is not None:
            if probe is None:
                checks.append(_result("health", False, "healthy", None, "not run: the container is not running"))
            elif "url" in health:
                checks.append(
                    check_health_url(health["url"], probe.get("status"), probe.get("error"), health["status"])
                )
            else:
                checks.append(
                    check_command("health", health["command"], probe["rc"], probe.get("stdout"), probe.get("stderr"))
                )
        docker_health = check_docker_health(inspect)
        if docker_health is not None:
            checks.append(docker_health)
        denied = facts.get("denied")
        if denied is not None:
            since = denied.get("since", expected["denied_since"])
            checks.append(check_denied(denied.get("events", []), since, denied.get("source"), denied.get("error"),
                                       denied.get("lost", ())))
    return {"name": expected["name"], "passed": all(c["passed"] for c in checks), "checks": checks}


def summarize(results):
    """(passed, failed_checks) over every container's results; failed_checks reads ``<container>: <check>``."""
    failed = ["%s: %s" % (r["name"], c["check"]) for r in results for c in r["checks"] if not c["passed"]]
    return not failed, failed
