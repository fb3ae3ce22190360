# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Widen a profile from the events a complain/log-mode trial collected, behind a guard.

- AppArmor: file accesses become path rules with the masks seen, generalised the way aa-logprof suggests (pids,
  numbered and random-named files become globs); capabilities, network, signal, ptrace and mount events become
  rules. The input is a spec (``_apparmor.normalize_spec``; the result is the next spec) or profile text (rules go
  before the closing brace of the named profile).
- Seccomp: observed syscalls join the allow-list (``_seccomp.add_allowed``).
- The guard refuses what an attacker wants and legitimate applications rarely need (Docker's default seccomp
  blocks, writes under /proc/sys and /sys, credential files, mount, powerful capabilities, raw sockets, ptrace,
  shells, ...). Refused items are reported with their reason; ``approve`` admits them.
- Accesses the profile already allows are not added again, so widening twice with the same events changes nothing.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.confine.docker.plugins.module_utils import _apparmor, _seccomp

KINDS = ("apparmor", "seccomp")


class WidenError(Exception):
    """Input that cannot be widened; the message is meant for the user as it is."""


# ------------------------------------------------------------------------------------------------------------ guard

# Syscalls Docker's default profile keeps from a container with default capabilities (_seccomp.DANGEROUS) and a few
# more that mostly serve to escape or spy: the reason says what an attacker gets.
SECCOMP_REASONS = {
    "mount": "mounts file systems: a container escape primitive",
    "umount": "unmounts file systems",
    "umount2": "unmounts file systems",
    "pivot_root": "changes the root file system",
    "unshare": "creates namespaces: the first step of many container escapes",
    "setns": "joins other namespaces",
    "kexec_load": "loads a new kernel",
    "kexec_file_load": "loads a new kernel",
    "init_module": "loads kernel modules",
    "finit_module": "loads kernel modules",
    "delete_module": "unloads kernel modules",
    "bpf": "loads eBPF programs into the kernel",
    "keyctl": "reaches the kernel keyring, which is not namespaced",
    "add_key": "reaches the kernel keyring, which is not namespaced",
    "request_key": "reaches the kernel keyring, which is not namespaced",
    "ptrace": "traces and rewrites other processes",
    "process_vm_readv": "reads other processes' memory",
    "process_vm_writev": "writes other processes' memory",
    "reboot": "reboots the host",
    "perf_event_open": "kernel profiling: a frequent kernel-exploit vector",
    "userfaultfd": "a frequent kernel-exploit aid",
    "open_by_handle_at": "opens host files by handle (the 'shocker' escape)",
    "name_to_handle_at": "file handles, used with open_by_handle_at to escape",
    "syslog": "reads and clears the kernel log",
}
SECCOMP_GUARD = frozenset(_seccomp.DANGEROUS | set(SECCOMP_REASONS))
SECCOMP_DEFAULT_REASON = "blocked by Docker's default seccomp profile for containers with default capabilities"

CAPABILITY_REASONS = {
    "sys_admin": "nearly root over the kernel (mount, namespaces, ...)",
    "sys_module": "loads kernel modules",
    "sys_ptrace": "traces any process",
    "sys_rawio": "raw I/O to devices and memory",
    "sys_boot": "reboots the host",
    "sys_time": "sets the host clock",
    "mac_admin": "changes the MAC policy",
    "mac_override": "overrides the MAC policy",
    "dac_read_search": "bypasses file read permission checks (open_by_handle_at escape)",
    "bpf": "loads eBPF programs",
    "perfmon": "kernel profiling",
    "syslog": "reads the kernel log",
    "audit_control": "changes the audit configuration",
    "net_admin": "reconfigures networking",
    "linux_immutable": "changes immutable file flags",
}

# Paths (AppArmor globs) where writing is an attack; (glob, perms that trigger, reason).
SENSITIVE_PATHS = (
    ("/proc/sys/**", "wal", "writes kernel settings under /proc/sys"),
    ("/proc/sysrq-trigger", "rwal", "triggers SysRq actions on the host"),
    ("/proc/kcore", "rwal", "kernel memory"),
    ("/proc/kmem", "rwal", "kernel memory"),
    ("/proc/mem", "rwal", "kernel memory"),
    ("/proc/[0-9]*/mem", "rwal", "another process's memory"),
    ("/proc/[0-9]*/attr/**", "wal", "changes a process's security label"),
    ("/proc/self/attr/**", "wal", "changes a process's security label"),
    ("/sys/**", "wal", "writes kernel and device settings under /sys"),
    ("/etc/shadow", "rwal", "password hashes"),
    ("/etc/gshadow", "rwal", "group password hashes"),
    ("/etc/shadow-", "rwal", "password hashes"),
    ("/etc/passwd", "wal", "adds or changes accounts"),
    ("/etc/group", "wal", "adds group memberships"),
    ("/etc/sudoers", "wal", "grants root"),
    ("/etc/sudoers.d/**", "wal", "grants root"),
    ("/etc/ld.so.preload", "wal", "injects code into every process"),
    ("/etc/cron*/**", "wal", "persistence through cron"),
    ("/root/.ssh/**", "wal", "persistence through SSH keys"),
    ("/boot/**", "wal", "kernel and boot loader"),
    ("/dev/mem", "rwal", "physical memory"),
    ("/dev/kmem", "rwal", "kernel memory"),
    ("/dev/port", "rwal", "I/O ports"),
    ("/dev/sd*", "wal", "raw disk"),
    ("/dev/nvme*", "wal", "raw disk"),
    ("/dev/vd*", "wal", "raw disk"),
    ("/{,var/}run/docker.sock", "rwal", "controls the Docker engine: root on the host"),
    ("/{,var/}run/containerd/**", "rwal", "controls the container runtime"),
)
SHELLS = (
    "/{,usr/}bin/{sh,dash,bash,rbash,zsh,ksh,ksh93,mksh,csh,tcsh,fish,ash,busybox}",
    "/{,usr/}bin/{nc,ncat,netcat,nc.openbsd,nc.traditional,socat,telnet}",
)
SHELL_REASON = "starts a shell or a network relay: what an exploit does first"
MOUNT_OPERATIONS = ("mount", "remount", "umount", "pivotroot")
FILE_OPERATIONS = frozenset(
    (
        "open",
        "mknod",
        "file_mmap",
        "file_mprotect",
        "exec",
        "getattr",
        "setattr",
        "truncate",
        "rename_src",
        "rename_dest",
        "unlink",
        "link",
        "symlink",
        "mkdir",
        "rmdir",
        "chmod",
        "chown",
        "file_perm",
        "file_lock",
        "file_receive",
        "file_inherit",
        "sendmsg",
        "recvmsg",
    )
)
NETWORK_OPERATIONS = frozenset(
    (
        "create",
        "bind",
        "connect",
        "listen",
        "accept",
        "sendmsg",
        "recvmsg",
        "getsockname",
        "getpeername",
        "getsockopt",
        "setsockopt",
        "socket_shutdown",
    )
)
# Kernel mask characters -> AppArmor rule permissions (create/delete are write).
MASK_TO_PERMS = {"r": "r", "w": "w", "a": "a", "c": "w", "d": "w", "x": "x", "m": "m", "l": "l", "k": "k"}
PERM_ORDER = "mrwalk"


# ------------------------------------------------------------------------------------------------ AppArmor globs


_GLOB_CACHE = {}
VARIABLES = {"PROC": "/proc", "pid": "[0-9]+", "pids": "[0-9]+", "tid": "[0-9]+", "sys": "/sys", "run": "/run"}


def glob_regex(glob):
    """Compile an AppArmor path glob (``*``, ``**``, ``?``, ``[...]``, ``{a,b}``, ``@{PROC}``) to a regex.

    Unknown variables match nothing, so coverage checks err on the side of adding a rule.
    """
    cached = _GLOB_CACHE.get(glob)
    if cached is None:
        try:
            cached = re.compile(_glob_to_re(glob) + r"\Z")
        except (re.error, ValueError):
            cached = re.compile(r"(?!)")
        _GLOB_CACHE[glob] = cached
    return cached


def _glob_to_re(glob):
    out = []
    index = 0
    depth = 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("@{", index):
            end = glob.index("}", index)
            name = glob[index + 2 : end]
            value = VARIABLES.get(name)
            out.append(value.replace(".", r"\.") if value and not value.startswith("[") else value or "(?!)")
            index = end + 1
            continue
        # apparmor_parser: a "*" or "**" right after "/" matches at least one character ("/**" is not "/").
        after_slash = index > 0 and glob[index - 1] == "/"
        if glob.startswith("**", index):
            out.append(".+" if after_slash else ".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]+" if after_slash else "[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = glob.index("]", index + 1)
            body = glob[index + 1 : end]
            if body.startswith("^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            index = end + 1
            continue
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def glob_matches(glob, path):
    return glob_regex(glob).match(path) is not None


# Characters a rule path cannot hold literally (whitespace, comment, quotes, glob syntax): matched with "?".
_UNSAFE_RE = re.compile(r"[\s#\"\\,{}\[\]*?^@]")
_RANDOM_RE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_]{6,}$")
_NAME_RUN_RE = re.compile(r"^[A-Za-z0-9_]{6,}$")
_SUFFIX_RE = re.compile(r"^(.*[-_.])([A-Za-z0-9_]{6,})$")  # name-<random>, .tmp-<random>
_NUMBERED_RE = re.compile(r"^(.*[-_.])(\d+)((?:\.[A-Za-z][A-Za-z0-9]*)*)$")


def _generalise_component(component, last):
    if component.isdigit():
        return "[0-9]*"
    for prefix in ("tmp.", "tmp"):  # mktemp, Python's tempfile: any run of name characters is random
        if component.startswith(prefix) and _NAME_RUN_RE.match(component[len(prefix) :]):
            return prefix + "*"
    match = _NUMBERED_RE.match(component) if last else None
    if match:
        return match.group(1) + "[0-9]*" + match.group(3)
    match = _SUFFIX_RE.match(component)
    if match and (_RANDOM_RE.match(match.group(2)) or "tmp" in match.group(1).lower()):
        return match.group(1) + "*"
    head, sep, tail = component.rpartition(".")
    if sep and head and _RANDOM_RE.match(head) and len(head) >= 8 and not tail.isdigit():
        return "*." + tail
    if _RANDOM_RE.match(component) and len(component) >= 8 and sum(c.isdigit() for c in component) >= 2:
        return "*"
    return component


def generalise_path(path):
    """The rule path aa-logprof would suggest for ``path``: pids, numbered and random-named files become globs.

    ``/proc/3101/status`` -> ``@{PROC}/@{pid}/status``; ``/var/log/app/worker-17.log`` ->
    ``/var/log/app/worker-[0-9]*.log``; ``/tmp/tmpk3v9x_2q`` -> ``/tmp/tmp*``. Other paths stay as they are.
    """
    path = "/".join(_UNSAFE_RE.sub("?", part) for part in path.split("/"))
    if path.startswith("/proc/"):
        parts = path[len("/proc/") :].split("/")
        if parts and parts[0].isdigit():
            parts[0] = "@{pid}"
            if len(parts) > 2 and parts[1] == "task" and parts[2].isdigit():
                parts[2] = "@{tid}"
            return "@{PROC}/" + "/".join(parts)
        return "@{PROC}/" + "/".join(parts)
    trailing = path.endswith("/")
    parts = path.strip("/").split("/")
    out = [_generalise_component(part, index == len(parts) - 1) if part else part for index, part in enumerate(parts)]
    return "/" + "/".join(out) + ("/" if trailing and out != [""] else "")


def mask_perms(*masks):
    """Kernel masks (``wc``, ``rm``, ``x``) -> AppArmor permissions in canonical order (``w`` absorbs ``a``)."""
    chars = set()
    for mask in masks:
        for char in mask or "":
            perm = MASK_TO_PERMS.get(char)
            if perm:
                chars.add(perm)
    if "w" in chars:
        chars.discard("a")
    exec_perm = "ix" if "x" in chars else ""
    chars.discard("x")
    return "".join(c for c in PERM_ORDER if c in chars) + exec_perm


def merge_perms(*perms):
    chars = set("".join(perms).replace("ix", "x").replace("i", ""))
    if "w" in chars:
        chars.discard("a")
    exec_perm = "ix" if "x" in chars else ""
    chars.discard("x")
    return "".join(c for c in PERM_ORDER if c in chars) + exec_perm


# --------------------------------------------------------------------------------------------------------- items


class Item:
    """One thing to add: a rule, the events behind it, and what the guard says."""

    def __init__(self, kind, key, rule, apply=None):
        self.kind = kind  # file, exec, capability, network, signal, ptrace, mount, syscall, other
        self.key = key  # what ``approve`` names: a path, "capability x", "network inet raw", a syscall
        self.rule = rule  # the rule as profile text (or the syscall name)
        self.apply = apply  # how it goes into a spec: (list name, value)
        self.count = 0
        self.examples = []
        self.comm = []
        self.first_seen = None
        self.last_seen = None
        self.reason = None  # why refused (None: admitted)
        self.category = None  # guard, conflict, unsupported
        self.approved = False

    def note(self, event, example=None):
        self.count += event.get("count") or 1
        if example and example not in self.examples and len(self.examples) < 5:
            self.examples.append(example)
        comms = event.get("comm") or []
        for comm in comms if isinstance(comms, list) else [comms]:
            if comm and comm not in self.comm and len(self.comm) < 8:
                self.comm.append(comm)
        first, last = event.get("first_seen"), event.get("last_seen")
        if first and (self.first_seen is None or first < self.first_seen):
            self.first_seen = first
        if last and (self.last_seen is None or last > self.last_seen):
            self.last_seen = last

    def as_dict(self):
        out = {
            "type": self.kind,
            "key": self.key,
            "rule": self.rule,
            "count": self.count,
            "examples": list(self.examples),
            "comm": list(self.comm),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }
        if self.reason:
            out["reason"] = self.reason
            out["category"] = self.category
        if self.approved:
            out["approved"] = True
        return out


def _approved(item, approve):
    return item.key in approve or item.rule in approve


# ------------------------------------------------------------------------------------------------------ AppArmor


def _event_list(events, kind):
    if events is None:
        return []
    if isinstance(events, dict):
        events = events.get(kind) or []
    if not isinstance(events, (list, tuple)):
        raise WidenError("events must be the result of security_events or its %r list" % kind)
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise WidenError("events[%d] is not an event (a dict)" % index)
    return list(events)


def _sensitive(path, perms):
    for glob, trigger, reason in SENSITIVE_PATHS:
        if any(p in trigger for p in perms.replace("ix", "x")) and glob_matches(glob, path):
            return reason
    return None


def _is_shell(path):
    return any(glob_matches(glob, path) for glob in SHELLS)


# What the template's ``#include <abstractions/base>`` maps (shared libraries, the loader's cache, locales).
BASE_ALLOW = (
    ("/{usr/,}lib{,32,64}/**.so*", "mr"),
    ("/{usr/,}lib/*-linux-gnu*/**.so*", "mr"),
    ("/{usr/,}lib{,32,64}/ld{,32,64}-*.so", "mr"),
    ("/usr/lib{,32,64}/locale/**", "mr"),
    ("/usr/lib{,32,64}/gconv/*.so", "mr"),
    ("/usr/lib/*-linux-gnu*/gconv/*.so", "mr"),
    ("/etc/ld.so.cache", "mr"),
)


class SpecCoverage:
    """What a normalised spec (rendered by the collection's template) already allows or denies."""

    def __init__(self, spec):
        fs = spec["filesystem"]
        self.name = spec["name"]
        self.allow = [("/**", "r"), *BASE_ALLOW]
        self.allow += [(p, "rwk") for p in fs["writable_paths"]]
        self.allow += [(p, "wa") for p in fs["log_on_write_paths"]]
        self.allow += [(p, "mrx") for p in fs["allow_exec"]]
        self.deny = [(p, "wl", "read_only_paths") for p in fs["read_only_paths"]]
        self.deny += [(p, "mrwaklx", "deny_exec") for p in fs["deny_exec"]]
        self.deny += [(p, "mrwaklx", "deny_paths") for p in fs["deny_paths"]]
        for rule in fs["files"]:
            perms = rule["perms"].replace("ix", "x")
            if rule["deny"]:
                self.deny.append((rule["path"], perms + ("a" if "w" in perms else ""), "files"))
            else:
                self.allow.append((rule["path"], perms + ("a" if "w" in perms else "")))
        self.caps_allow = set(spec["capabilities"]["allow"])
        self.caps_deny = set(spec["capabilities"]["deny"])
        self.network = spec["network"]

    def file(self, path, perms):
        """``(missing perms, denial)``: what no allow rule grants, and the deny rule that blocks it, if any."""
        wanted = set(perms.replace("ix", "x"))
        for glob, denied, where in self.deny:
            hit = wanted & set(denied)
            if hit and glob_matches(glob, path):
                return "".join(sorted(hit)), "%s entry %s denies %s" % (where, glob, "".join(sorted(hit)))
        for glob, granted in self.allow:
            if wanted & set(granted) and glob_matches(glob, path):
                wanted -= set(granted)
        return merge_perms("".join(wanted)), None


def _network_token(event):
    family = event.get("family")
    sock_type = event.get("sock_type")
    if family in ("inet", "inet6") and sock_type == "stream":
        return "tcp"
    if family in ("inet", "inet6") and sock_type == "dgram":
        return "udp"
    return family


def apparmor_items(events, name, approve=(), coverage=None):
    """Turn AppArmor events of profile ``name`` (and its children) into items; apply the guard and coverage."""
    approve = set(approve or ())
    items = {}

    def item(kind, key, rule, apply=None):
        found = items.get((kind, key))
        if found is None:
            found = items[(kind, key)] = Item(kind, key, rule, apply)
        return found

    for event in events:
        profile = event.get("profile") or ""
        if profile != name and not profile.startswith(name + "//"):
            continue
        operation = event.get("operation") or ""
        if operation == "capable" or event.get("capability"):
            cap = event.get("capability")
            entry = item("capability", "capability %s" % cap, "capability %s," % cap, ("capability", cap))
            entry.note(event)
        elif event.get("family") and operation in NETWORK_OPERATIONS:
            family, sock_type = event.get("family"), event.get("sock_type")
            raw = sock_type == "raw" or family == "packet"
            key = "network %s %s" % (family, sock_type) if sock_type else "network %s" % family
            apply = ("network_raw", family) if raw else ("network", _network_token(event))
            item("network", key, key + ",", apply).note(event)
        elif operation == "signal":
            peer = event.get("peer") or "unconfined"
            access = "receive" if "receive" in (event.get("requested_mask") or "") else "send"
            key = "signal %s %s peer=%s" % (access, event.get("signal") or "", peer)
            rule = "signal (%s) set=(%s) peer=%s," % (access, event.get("signal"), peer) if event.get(
                "signal") else "signal (%s) peer=%s," % (access, peer)
            item("signal", key.replace("  ", " "), rule, ("extra_rules", rule)).note(event)
        elif operation == "ptrace":
            peer = event.get("peer") or "unconfined"
            access = event.get("requested_mask") or "trace"
            rule = "ptrace (%s) peer=%s," % (access, peer)
            item("ptrace", "ptrace %s peer=%s" % (access, peer), rule, ("extra_rules", rule)).note(event)
        elif operation in MOUNT_OPERATIONS:
            target = event.get("name") or ""
            if operation == "umount":
                rule = "umount %s," % target
            elif operation == "pivotroot":
                rule = "pivot_root %s," % target
            else:
                fstype = event.get("fstype")
                source = event.get("srcname")
                rule = "mount%s%s -> %s," % (" fstype=%s" % fstype if fstype else "", " %s" % source if source else "",
                                             target)
            item("mount", rule[:-1], rule, ("extra_rules", rule)).note(event)
        elif event.get("name") and operation in FILE_OPERATIONS and event["name"].startswith("/"):
            path = event["name"]
            perms = mask_perms(event.get("requested_mask"), event.get("denied_mask"))
            if not perms:
                continue
            if coverage is not None:
                missing, denial = coverage.file(path, perms)
                if denial:
                    entry = item("file", path, "%s %s," % (path, perms), None)
                    entry.note(event, path)
                    entry.category = "conflict"
                    entry.reason = "the spec denies it (%s); remove or narrow that entry by hand if the access is " \
                        "wanted" % denial
                    continue
                if not missing:
                    continue
                perms = missing
            if "x" in perms:
                glob = generalise_path(path)
                entry = item("exec", glob, "%s mrix," % glob, ("allow_exec", glob))
                entry.note(event, path)
                rest = perms.replace("ix", "")
                if rest.replace("m", "").replace("r", ""):
                    glob_entry = item("file", glob, None, ("files", glob))
                    glob_entry.perms = merge_perms(getattr(glob_entry, "perms", ""), rest)
                    glob_entry.note(event, path)
                continue
            glob = generalise_path(path)
            entry = item("file", glob, None, ("files", glob))
            entry.perms = merge_perms(getattr(entry, "perms", ""), perms)
            entry.note(event, path)
        else:
            rule = "# %s %s" % (operation or "unknown", event.get("name") or "")
            entry = item("other", rule.strip(), rule.strip(), None)
            entry.note(event)
            entry.category = "unsupported"
            entry.reason = "no rule is generated for operation %r; review it by hand" % operation

    out = []
    for entry in items.values():
        if entry.kind == "file" and entry.rule is None:
            entry.rule = "%s %s," % (entry.key, entry.perms)
        if entry.category != "unsupported":
            conflict = entry.reason if entry.category == "conflict" else None
            entry.reason = entry.category = None
            _guard_apparmor(entry, name)
            if entry.reason is not None and _approved(entry, approve):
                entry.approved = True
                entry.reason = entry.category = None
            if conflict and entry.reason:
                entry.reason += "; besides, " + conflict
            elif conflict:
                entry.category, entry.reason = "conflict", conflict
        out.append(entry)
    return out


def _guard_apparmor(entry, name):
    reason = None
    if entry.kind == "capability":
        cap = entry.apply[1]
        if cap in CAPABILITY_REASONS:
            reason = "capability %s: %s" % (cap, CAPABILITY_REASONS[cap])
    elif entry.kind == "network" and entry.apply[0] == "network_raw":
        reason = "raw or packet sockets: spoofing and sniffing"
    elif entry.kind == "mount":
        reason = "mount operations: a container escape primitive"
    elif entry.kind in ("ptrace", "signal") and entry.rule.rsplit("peer=", 1)[1].rstrip(",") == name:
        reason = None  # within the container's own profile
    elif entry.kind == "ptrace":
        reason = "ptrace of another profile: reads and rewrites other processes"
    elif entry.kind == "signal" and "(send)" in entry.rule:
        reason = "signals to processes outside the container's profile"
    elif entry.kind == "exec":
        for example in entry.examples or [entry.key]:
            if _is_shell(example):
                reason = "exec of %s: %s" % (example, SHELL_REASON)
                break
    elif entry.kind == "file":
        perms = entry.rule.rsplit(" ", 1)[1].rstrip(",")
        for example in entry.examples or [entry.key]:
            found = _sensitive(example, perms)
            if found:
                reason = "%s %s: %s" % (example, perms, found)
                break
        else:
            found = _sensitive(entry.key, perms)
            if found:
                reason = "%s %s: %s" % (entry.key, perms, found)
    if reason:
        entry.category = "guard"
        entry.reason = reason


def _spec_conflicts(entry, spec):
    """Reasons an admitted item cannot be expressed in the spec (the template's fixed denials)."""
    if entry.kind == "mount":
        return "the profile template denies mount (docker-default protection); no allow rule can admit it"
    if entry.kind == "capability" and entry.apply[1] in spec["capabilities"]["deny"]:
        return "the spec denies capability %s (capabilities.deny)" % entry.apply[1]
    if entry.kind == "capability" and entry.apply[1] not in _apparmor.CAPABILITIES:
        return "unknown capability %r" % entry.apply[1]
    if entry.kind == "network" and entry.apply[0] == "network" and entry.apply[1] not in _apparmor.NET_DOMAINS and \
            entry.apply[1] not in _apparmor.NET_PROTOCOLS:
        return "unknown network family %r" % entry.apply[1]
    return None


def _covered_in_spec(entry, spec, coverage):
    if entry.kind == "capability":
        return entry.apply[1] in coverage.caps_allow
    if entry.kind == "network":
        network = spec["network"]
        if entry.apply[0] == "network_raw":
            return network["packet"] if entry.apply[1] == "packet" else network["raw"]
        return not network["protocols"] or entry.apply[1] in network["protocols"]
    if entry.kind == "signal":
        peer = entry.rule.rsplit("peer=", 1)[1].rstrip(",")
        return peer == spec["name"] or ("(receive)" in entry.rule and peer == "unconfined") or \
            entry.rule in spec["extra_rules"]
    if entry.kind == "ptrace":
        peer = entry.rule.rsplit("peer=", 1)[1].rstrip(",")
        return peer == spec["name"] or entry.rule in spec["extra_rules"]
    return False


def widen_apparmor_spec(spec, events, approve=()):
    """``(new_spec, added, refused)`` for a spec (validated with ``_apparmor.normalize_spec``)."""
    try:
        spec = _apparmor.normalize_spec(spec)
    except _apparmor.SpecError as exc:
        raise WidenError("the spec is not valid: %s" % exc) from exc
    coverage = SpecCoverage(spec)
    items = apparmor_items(_event_list(events, "apparmor"), spec["name"], approve, coverage)
    new = copy.deepcopy(spec)
    added, refused = [], []
    for entry in items:
        if entry.reason is None and _covered_in_spec(entry, new, coverage):
            continue
        if entry.reason is None:
            conflict = _spec_conflicts(entry, new)
            if conflict:
                entry.category, entry.reason = "conflict", conflict
        if entry.reason is not None:
            refused.append(entry)
            continue
        target, value = entry.apply
        fs = new["filesystem"]
        if target == "capability":
            new["capabilities"]["allow"].append(value)
        elif target == "network_raw":
            new["network"]["packet" if value == "packet" else "raw"] = True
        elif target == "network":
            new["network"]["protocols"].append(value)
        elif target == "allow_exec":
            fs["allow_exec"].append(value)
        elif target == "files":
            perms = entry.rule.rsplit(" ", 1)[1].rstrip(",")
            for rule in fs["files"]:
                if rule["path"] == value and not rule["deny"] and not rule["audit"] and not rule["owner"]:
                    rule["perms"] = merge_perms(rule["perms"], perms)
                    entry.rule = "%s %s," % (value, rule["perms"])
                    break
            else:
                fs["files"].append({"path": value, "perms": perms, "audit": False, "deny": False, "owner": False})
        elif target == "extra_rules":
            new["extra_rules"].append(value)
        added.append(entry)
    try:
        new = _apparmor.normalize_spec(new)
    except _apparmor.SpecError as exc:
        raise WidenError("the widened spec is not valid: %s" % exc) from exc
    return new, added, refused


def _profile_block(text, name):
    """``(lines, header_index, closing_index)`` of the top-level profile ``name`` in ``text``."""
    try:
        index, lines = _apparmor.find_header(text, name)
    except _apparmor.ProfileError as exc:
        raise WidenError(str(exc)) from exc
    depth = 0
    for position in range(index, len(lines)):
        code = _apparmor._strip_comment(lines[position])
        depth += code.count("{") - code.count("}")
        if (depth <= 0 and position > index) or (position == index and depth == 0 and "}" in code):
            return lines, index, position
    raise WidenError("profile %s has no closing brace" % name)


def profile_names(text):
    """Names of the top-level profiles declared in profile text (``profile NAME ... {`` or ``NAME ... {``)."""
    names = []
    depth = 0
    for raw in text.splitlines():
        line = _apparmor._strip_comment(raw).strip()
        if depth == 0 and line.endswith("{"):
            match = re.match(r'^(?:profile\s+)?("[^"]+"|[^\s{(]+)', line)
            if match and not line.startswith(("}", "^")):
                names.append(match.group(1).strip('"'))
        depth += line.count("{") - line.count("}")
        depth = max(depth, 0)
    return names


def widen_apparmor_text(text, events, name=None, approve=()):
    """``(new_text, added, refused)``: rules inserted before the closing brace of profile ``name``."""
    if name is None:
        names = profile_names(text)
        if len(names) != 1:
            raise WidenError("the profile text declares %s; name the profile to widen" % (
                "no profile" if not names else "several profiles (%s)" % ", ".join(names)))
        name = names[0]
    lines, header, closing = _profile_block(text, name)
    present = {re.sub(r"\s+", " ", _apparmor._strip_comment(line)).strip() for line in lines[header:closing]}
    items = apparmor_items(_event_list(events, "apparmor"), name, approve)
    added, refused, new_lines = [], [], []
    for entry in items:
        if entry.reason is not None:
            refused.append(entry)
            continue
        if entry.rule in present:
            continue
        added.append(entry)
        new_lines.append("  %s\n" % entry.rule)
    if not new_lines:
        return text, added, refused
    indent = re.match(r"^\s*", lines[closing]).group(0)
    block = ["%s  # added by confine.docker.profile_widen\n" % indent] + [indent + line for line in new_lines]
    new = lines[:closing] + block + lines[closing:]
    return "".join(new), added, refused


# ------------------------------------------------------------------------------------------------------- seccomp


def seccomp_items(events, approve=(), containers=None):
    approve = set(approve or ())
    items = {}
    for event in events:
        if containers and event.get("container") not in containers:
            continue
        name = event.get("syscall")
        if not name:
            key = "nr %s/%s" % (event.get("nr"), event.get("arch"))
            entry = items.setdefault(("unknown", key), Item("syscall", key, key))
            entry.note(event, event.get("exe"))
            entry.category = "unsupported"
            entry.reason = "libseccomp has no name for syscall %s on %s; add it by hand" % (
                event.get("nr"), event.get("arch"))
            continue
        entry = items.setdefault(("syscall", name), Item("syscall", name, name))
        entry.note(event, event.get("exe"))
    out = []
    for entry in items.values():
        if entry.reason is None and entry.key in SECCOMP_GUARD:
            if entry.key in approve:
                entry.approved = True
            else:
                entry.category = "guard"
                entry.reason = "%s: %s" % (entry.key, SECCOMP_REASONS.get(entry.key, SECCOMP_DEFAULT_REASON))
        out.append(entry)
    return out


def widen_seccomp(profile, events, approve=(), containers=None):
    """``(new_profile, added, refused)``: observed syscalls join the profile's unconditional allow-list."""
    try:
        profile = _seccomp.parse_profile(profile, check_names=False)
    except _seccomp.SeccompError as exc:
        raise WidenError("the seccomp profile is not valid: %s" % exc) from exc
    items = seccomp_items(_event_list(events, "seccomp"), approve, containers)
    wanted = [entry for entry in items if entry.reason is None]
    refused = [entry for entry in items if entry.reason is not None]
    new, names = _seccomp.add_allowed(profile, [entry.key for entry in wanted])
    added = [entry for entry in wanted if entry.key in names]
    return new, added, refused


# -------------------------------------------------------------------------------------------------------- report


def _cell(value):
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_report(kind, name, added, refused, events_total=None):
    """A Markdown review of a widening: what was added, what was refused and why, how to admit it."""
    lines = ["# Profile widening review: %s (%s)" % (name, kind), ""]
    if events_total is not None:
        lines.append("Events reviewed: %d." % events_total)
    attacks = [e for e in refused if e.get("category") == "guard"]
    lines.append("Added: %d. Refused: %d (%d by the guard)." % (len(added), len(refused), len(attacks)))
    lines.append("")
    lines.append("## Added")
    lines.append("")
    if added:
        lines.append("| Rule | Seen | Commands | Examples | Approved |")
        lines.append("|---|---|---|---|---|")
        for entry in added:
            lines.append("| `%s` | %d | %s | %s | %s |" % (
                _cell(entry["rule"]), entry["count"], _cell(", ".join(entry["comm"])),
                _cell(", ".join(entry["examples"])), "yes" if entry.get("approved") else ""))
    else:
        lines.append("Nothing: the profile already allows everything the events show.")
    lines.append("")
    lines.append("## Refused")
    lines.append("")
    if refused:
        lines.append("Items the guard refuses are possible attacks or need an explicit approval: add their key to "
                     "`approve` to admit them.")
        lines.append("")
        lines.append("| Rule | Why | Kind | Seen | Commands | Key for approve |")
        lines.append("|---|---|---|---|---|---|")
        for entry in refused:
            category = {"guard": "possible attack / needs approval", "conflict": "conflicts with the profile",
                        "unsupported": "review by hand"}.get(entry.get("category"), entry.get("category"))
            lines.append("| `%s` | %s | %s | %d | %s | `%s` |" % (
                _cell(entry["rule"]), _cell(entry.get("reason")), category, entry["count"],
                _cell(", ".join(entry["comm"])), _cell(entry["key"])))
    else:
        lines.append("Nothing.")
    lines.append("")
    return "\n".join(lines)


def widen(kind, profile, events, approve=(), name=None, containers=None):
    """Widen ``profile`` (spec dict, profile text or seccomp profile) with ``events``.

    Returns ``{"profile", "format", "name", "added", "refused", "report"}``; ``added``/``refused`` are lists of
    dicts (type, key, rule, count, examples, comm, first/last seen, reason, category).
    """
    if kind not in KINDS:
        raise WidenError("kind must be one of %s" % ", ".join(KINDS))
    if kind == "seccomp":
        new, added, refused = widen_seccomp(profile, events, approve, containers)
        fmt, label = "seccomp", name or "seccomp profile"
        total = len(_event_list(events, "seccomp"))
    elif isinstance(profile, dict):
        new, added, refused = widen_apparmor_spec(profile, events, approve)
        fmt, label = "spec", new["name"]
        total = len(_event_list(events, "apparmor"))
    elif isinstance(profile, str):
        new, added, refused = widen_apparmor_text(profile, events, name, approve)
        fmt, label = "text", name or profile_names(profile)[0]
        total = len(_event_list(events, "apparmor"))
    else:
        raise WidenError("an AppArmor profile is a spec (a dict) or profile text (a string)")
    added = [entry.as_dict() for entry in added]
    refused = [entry.as_dict() for entry in refused]
    return {
        "profile": new,
        "format": fmt,
        "name": label,
        "added": added,
        "refused": refused,
        "report": render_report(kind, label, added, refused, total),
    }
