# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that a running container is confined the way it was declared.

Every check is a pure function over data the module gathered: ``docker inspect`` JSON, the text of
``/proc/<pid>/status`` and ``/proc/<pid>/attr/apparmor/current`` (or ``attr/current``), the expected seccomp profile,
exit codes of commands run in the container, HTTP statuses and AppArmor log records. Plain Python, stdlib only, no
Ansible imports.

A check result is a dict ``{check, passed, expected, actual, detail}``.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import shlex

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

_AUDIT_TIME = re.compile(r"audit\((\d+(?:\.\d+)?):(\d+)\)")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)
_PROFILE_FIELD = re.compile(r'\bprofile="([^"]*)"')


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


def _validate_cursor(cursor):
    files = cursor.get("files")
    if not isinstance(files, list) or not files:
        raise VerifyError(
            "a denied_since cursor must hold 'files', a list of {path, offset[, inode]} (as returned by "
            "confine.docker.security_events for its audit source); got %s" % json.dumps(cursor, sort_keys=True)
        )
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].startswith("/"):
            raise VerifyError("each file of a denied_since cursor needs an absolute 'path', got %r" % (entry,))
        offset = entry.get("offset", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise VerifyError(
                "the offset of %s in the denied_since cursor must be a non-negative integer" % entry["path"]
            )


def validate_expected(container):
    """Check one entry of ``containers`` and return it normalized (raises VerifyError on the first problem)."""
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
            _validate_cursor(since)
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


def audit_record_time(line):
    """(epoch seconds, serial) of an audit record (auditd ``msg=audit(...)`` or kernel ``audit(...)``), or None."""
    match = _AUDIT_TIME.search(line)
    if not match:
        return None
    return float(match.group(1)), int(match.group(2))


def denied_records(lines, profile, since=None):
    """AppArmor DENIED records of ``profile`` (and its child profiles ``profile//...``) at or after ``since``.

    Records seen twice (the same ``audit(time:serial)`` in several sources) count once. Returns the lines, oldest
    first when they carry a time.
    """
    seen = set()
    found = []
    for line in lines:
        if 'apparmor="DENIED"' not in line:
            continue
        match = _PROFILE_FIELD.search(line)
        if not match:
            continue
        name = match.group(1)
        if name != profile and not name.startswith(profile + "//"):
            continue
        stamp = audit_record_time(line)
        if since is not None and (stamp is None or stamp[0] < since):
            continue
        key = stamp if stamp is not None else line
        if key in seen:
            continue
        seen.add(key)
        found.append((stamp or (0.0, 0), line.strip()))
    found.sort(key=lambda item: item[0])
    return [line for _stamp, line in found]


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


def check_denied(records, since, source):
    """No AppArmor DENIED record of the container's profile since ``since`` (a time or a cursor)."""
    count = len(records)
    expected = "0 since %s" % (since if not isinstance(since, dict) else "the cursor")
    detail = "searched %s" % source
    if count:
        detail = "%d DENIED record(s) in %s; latest: %s" % (count, source, records[-1][:400])
    return _result("denied", count == 0, expected, count, detail)


# ---------------------------------------------------------------------------------------------------------------
# One container, all checks
# ---------------------------------------------------------------------------------------------------------------


def evaluate(expected, facts):
    """All checks of one container.

    ``expected`` comes from validate_expected. ``facts`` holds what the module gathered:
    ``inspect`` (dict or None), ``inspect_error``, ``status_text``, ``attr_text`` (and ``attr_file``, the file it
    came from), ``seccomp_profile`` (data),
    ``seccomp_error``, ``workload`` (list of {rc, stdout, stderr}), ``health`` ({rc, stdout, stderr} for a command,
    {status, error} for a URL), ``denied`` ({records, source}).
    Returns ``{name, passed, checks}``.
    """
    checks = []
    inspect = facts.get("inspect")
    checks.append(check_exists(inspect, facts.get("inspect_error")))
    if inspect is not None:
        running = check_running(inspect)
        checks.append(running)
        status = parse_status(facts.get("status_text")) if running["passed"] else {}
        if expected["apparmor"] is not None:
            checks.append(check_apparmor(inspect, expected["apparmor"]))
            if running["passed"]:
                attr = facts.get("attr_text")
                checks.append(
                    check_apparmor_kernel(attr, expected["apparmor"], expected["apparmor_mode"], facts.get("attr_file"))
                )
        if expected["seccomp"] is not None:
            checks.append(
                check_seccomp(inspect, expected["seccomp"], facts.get("seccomp_profile"), facts.get("seccomp_error"))
            )
            if running["passed"]:
                checks.append(check_seccomp_kernel(status))
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
            checks.append(check_denied(denied["records"], since, denied["source"]))
    return {"name": expected["name"], "passed": all(c["passed"] for c in checks), "checks": checks}


def summarize(results):
    """(passed, failed_checks) over every container's results; failed_checks reads ``<container>: <check>``."""
    failed = ["%s: %s" % (r["name"], c["check"]) for r in results for c in r["checks"] if not c["passed"]]
    return not failed, failed
