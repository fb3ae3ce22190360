# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values before rules: the fields of an AppArmor record, validated against what the kernel can write, and the one
renderer that turns validated values into rule text.

A record's fields come from a container under trial, which may have forged or bent them. Each field is checked
against its grammar (capability names from the kernel's table, network families and socket types from AppArmor's
sets, signal names, AppArmor labels, mount file system types and flags, ptrace modes, paths); a field that does not
validate raises :class:`FieldError` ("malformed record: ..."), and the event it belongs to never reaches a profile.
Rules are only ever built here, from validated values.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.confine.docker.plugins.module_utils import _aare
from ansible_collections.confine.docker.plugins.module_utils._apparmor import CAPABILITIES, NET_DOMAINS

# The socket types AppArmor's network rules name.
SOCK_TYPES = frozenset(("stream", "dgram", "seqpacket", "rdm", "raw", "packet"))
# Signal names the kernel logs (security/apparmor/include/sig_names.h) and the policy grammar accepts.
SIGNALS = frozenset(
    (
        "hup", "int", "quit", "ill", "trap", "abrt", "bus", "fpe", "kill", "usr1", "segv", "usr2", "pipe", "alrm",
        "term", "stkflt", "chld", "cont", "stop", "stp", "ttin", "ttou", "urg", "xcpu", "xfsz", "vtalrm", "prof",
        "winch", "io", "pwr", "sys", "emt", "lost", "exists",
    )
)
_RTMIN_RE = re.compile(r"rtmin\+(\d{1,2})")
SIGNAL_ACCESS = frozenset(("send", "receive"))
PTRACE_ACCESS = frozenset(("trace", "read", "tracedby", "readby"))
MOUNT_FLAGS = frozenset(
    (
        "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "remount", "mand", "nomand",
        "dirsync", "noatime", "atime", "nodiratime", "diratime", "bind", "rbind", "move", "verbose", "silent",
        "loud", "acl", "noacl", "unbindable", "runbindable", "private", "rprivate", "slave", "rslave", "shared",
        "rshared", "relatime", "norelatime", "iversion", "noiversion", "strictatime", "nostrictatime", "lazytime",
        "nolazytime", "user", "nouser",
    )
)
_FSTYPE_RE = re.compile(r"[a-z0-9][a-z0-9_.+-]{0,63}")
# An AppArmor label as records carry it: profile names (a name or an attachment path) joined by "//" (children)
# or "//&" (stacking). No whitespace, quotes, commas, braces, parentheses or glob characters: a peer is a pattern
# in a rule, so a "*" there would name every profile.
_LABEL_RE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./+:%=~-]*(?://&[A-Za-z0-9_/][A-Za-z0-9_./+:%=~-]*)*")
LABEL_MAX = 255
PATH_MAX = 4096
# Kernel masks of file records: read, write, append, create, delete, exec, mmap-exec, link, lock, and the
# change-attribute/ownership bits AppArmor 3/4 log (``setattr``: "w" on old kernels, "N"/"O" style letters are not
# written by the kernels supported here).
_MASK_RE = re.compile(r"[rwacdxmlk]*")


class FieldError(ValueError):
    """A record field that is not a value the kernel writes; the message starts with "malformed record"."""

    def __init__(self, field, value, expected):
        self.field = field
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__("malformed record: %s=%s is not %s" % (field, shown, expected))


# ------------------------------------------------------------------------------------------------------- validators


def capability(value):
    if not isinstance(value, str) or value not in CAPABILITIES:
        raise FieldError("capability", value, "a capability name of the kernel's table")
    return value


def family(value):
    if not isinstance(value, str) or value not in NET_DOMAINS:
        raise FieldError("family", value, "an address family AppArmor names")
    return value


def sock_type(value):
    if value is None:
        return None
    if not isinstance(value, str) or value not in SOCK_TYPES:
        raise FieldError("sock_type", value, "a socket type AppArmor names (%s)" % ", ".join(sorted(SOCK_TYPES)))
    return value


def signal(value):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value in SIGNALS:
            return value
        match = _RTMIN_RE.fullmatch(value)
        if match and int(match.group(1)) <= 32:
            return value
    raise FieldError("signal", value, "a signal name AppArmor knows")


def signal_access(value):
    if value not in SIGNAL_ACCESS:
        raise FieldError("requested_mask", value, "send or receive")
    return value


def ptrace_access(value):
    if not isinstance(value, str):
        raise FieldError("requested_mask", value, "a ptrace mode")
    modes = [mode for mode in re.split(r"[\s,]+", value.strip()) if mode]
    if not modes or any(mode not in PTRACE_ACCESS for mode in modes):
        raise FieldError("requested_mask", value, "ptrace modes (%s)" % ", ".join(sorted(PTRACE_ACCESS)))
    return ",".join(sorted(set(modes), key=["trace", "read", "tracedby", "readby"].index))


def label(value, field="peer"):
    if not isinstance(value, str) or len(value) > LABEL_MAX or not _LABEL_RE.fullmatch(value):
        raise FieldError(field, value, "an AppArmor label (profile names joined by // or //&)")
    return value


def fstype(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _FSTYPE_RE.fullmatch(value):
        raise FieldError("fstype", value, "a file system type")
    return value


def mount_flags(value):
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise FieldError("flags", value, "mount flags")
    flags = [flag for flag in re.split(r"[\s,]+", value.strip()) if flag]
    if any(flag not in MOUNT_FLAGS for flag in flags):
        raise FieldError("flags", value, "mount flags AppArmor names")
    return tuple(flags)


def mask(value, field="requested_mask"):
    if value is None:
        return ""
    if not isinstance(value, str) or not _MASK_RE.fullmatch(value):
        raise FieldError(field, value, "a file permission mask (r, w, a, c, d, x, m, l, k)")
    return value


def path(value, field="name"):
    """A path from a record: absolute, no NUL, valid text (hex-encoded names that were not UTF-8 carry U+FFFD)."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise FieldError(field, value, "an absolute path")
    if len(value) > PATH_MAX:
        raise FieldError(field, value, "a path of at most %d characters" % PATH_MAX)
    if "\x00" in value or "\ufffd" in value:
        raise FieldError(field, value, "a path the profile can name (it holds NUL or bytes that are not UTF-8)")
    if "/../" in value + "/" or "/./" in value + "/" or "//" in value:
        raise FieldError(field, value, "a canonical path (the kernel logs paths without '.', '..' or '//')")
    return value


# --------------------------------------------------------------------------------------------------------- renderer


def file_rule(pattern, perms):
    """``PATTERN PERMS,`` for a validated pattern (see ``_aare``) and AppArmor file permissions."""
    _aare.validate(pattern)
    if not re.fullmatch(r"[rwalkm]*(?:[iuUpPcC]?x)?", perms) or not perms:
        raise ValueError("perms %r are not AppArmor file permissions" % perms)
    return "%s %s," % (pattern, perms)


def exec_rule(pattern):
    return file_rule(pattern, "mrix")


def capability_rule(name):
    return "capability %s," % capability(name)


def network_rule(net_family, net_type=None):
    net_family = family(net_family)
    net_type = sock_type(net_type)
    return "network %s %s," % (net_family, net_type) if net_type else "network %s," % net_family


def network_key(net_family, net_type=None):
    return network_rule(net_family, net_type)[:-1]


def signal_rule(access, peer, sig=None):
    access = signal_access(access)
    peer = label(peer)
    sig = signal(sig)
    if sig:
        return "signal (%s) set=(%s) peer=%s," % (access, sig, peer)
    return "signal (%s) peer=%s," % (access, peer)


def ptrace_rule(access, peer):
    return "ptrace (%s) peer=%s," % (ptrace_access(access), label(peer))


def mount_rule(operation, target, source=None, fs=None, flags=()):
    """The mount-family rule of a record (never admitted by the guard; shown in the review)."""
    target_pattern = _aare.escape(path(target, "name")) if target else None
    if operation == "umount":
        return "umount %s," % target_pattern if target_pattern else "umount,"
    if operation == "pivotroot":
        return "pivot_root %s," % target_pattern if target_pattern else "pivot_root,"
    parts = ["mount"]
    if fs:
        parts.append("fstype=%s" % fstype(fs))
    if flags:
        parts.append("options=(%s)" % ",".join(mount_flags(",".join(flags))))
    if source:
        parts.append(_aare.escape(path(source, "srcname")) if source.startswith("/") else _source_token(source))
    if target_pattern:
        parts.append("->")
        parts.append(target_pattern)
    return " ".join(parts) + ","


def _source_token(value):
    if not re.fullmatch(r"[A-Za-z0-9_.:+-]{1,64}", value):
        raise FieldError("srcname", value, "a mount source (a path or a device name)")
    return value
