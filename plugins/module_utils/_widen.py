# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Widen a profile from the events a complain/log-mode trial collected, behind a guard.

- AppArmor: file accesses become path rules with the masks seen, generalised the way aa-logprof suggests (pids,
  numbered and random-named files become globs); capabilities, network, signal, ptrace and mount events become
  rules. The input is a spec (``_apparmor.normalize_spec``; the result is the next spec) or profile text (rules go
  before the closing brace of the named profile).
- Seccomp: observed syscalls join the allow-list (``_seccomp.add_allowed``).
- Every event field is validated first (``_aa_rules``): a field the kernel would not write makes the event refused
  as malformed, and rules are rendered from validated values only.
- The guard (``_guard``) judges each rule by what it covers, after generalisation: a glob that could reach a
  sensitive path with a sensitive permission is narrowed to the literal paths seen, and those are judged again.
  Exec of a file the container wrote during the trial, or could write under its profile, is refused (W^X). Refused
  items are reported with their reason; ``approve`` admits them.
- Accesses the profile already allows are not added again, so widening twice with the same events changes nothing.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.confine.docker.plugins.module_utils import (
    _aa_rules,
    _aare,
    _apparmor,
    _guard,
    _libseccomp,
    _seccomp,
)
from ansible_collections.confine.docker.plugins.module_utils._aa_rules import FieldError

KINDS = ("apparmor", "seccomp")


class WidenError(Exception):
    """Input that cannot be widened; the message is meant for the user as it is."""


MOUNT_OPERATIONS = ("mount", "remount", "umount", "pivotroot")
TRANSITION_OPERATIONS = ("change_onexec", "change_profile", "change_hat")
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
_OPERATION_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Kernel mask characters -> AppArmor rule permissions (create/delete are write).
MASK_TO_PERMS = {"r": "r", "w": "w", "a": "a", "c": "w", "d": "w", "x": "x", "m": "m", "l": "l", "k": "k"}
# Kernel mask characters that put content into a file (for the write-then-exec check).
WRITE_MASK = frozenset("wac")
PERM_ORDER = "mrwalk"
WXOR_REASON = "executes or maps as code a file the container %s: what a dropper does (write xor execute)"


# ------------------------------------------------------------------------------------------------ AppArmor globs


def glob_matches(glob, path):
    """Whether the literal ``path`` is matched by the AppArmor pattern ``glob`` (unknown variables match nothing)."""
    try:
        return _aare.matches(glob, path)
    except _aare.PatternError:
        return False


_MIXED_RE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_]{6,}$")
# A word and a number (worker17, 2619_fsm): a counter, not random.
_COUNTER_SHAPE_RE = re.compile(r"^(?:[A-Za-z]+[-_.]?[0-9]+|[0-9]+[-_.]?[A-Za-z]+)$")


def _is_random(text):
    """Letters and digits mixed in a run of name characters (k3v9x_2q, 0f3a9c2d...), not a word and a number."""
    return bool(_MIXED_RE.match(text)) and not _COUNTER_SHAPE_RE.match(text)


_NAME_RUN_RE = re.compile(r"^[A-Za-z0-9_]{6,}$")
_SUFFIX_RE = re.compile(r"^(.*[-_.])([A-Za-z0-9_]{6,})$")  # name-<random>, .tmp-<random>
_TMP_END_RE = re.compile(r"tmp[-_.]$", re.I)
_NUMBERED_RE = re.compile(r"^(.*[-_.])?(\d+)((?:\.[A-Za-z][A-Za-z0-9]*)*)$")
SYSTEM_TREES = frozenset(("usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc", "boot", "opt"))
# A run of digits that ends at a separator or the end of the name (a counter, a pid, an OID), not inside a word.
_DIGIT_RUN_RE = re.compile(r"(?<![0-9])[0-9]+(?=[-_.]|$)")
# Numbers joined by separators: a worker and a segment (PostgreSQL's fileset 0.0), an OID and a segment (16388.1).
_NUMBERS_RE = re.compile(r"^[0-9]+(?:[-_.][0-9]+)+$")
# Long hexadecimal counters in one case, with digits and letters: PostgreSQL's WAL segment 00000001000000000000000A.
_HEX_UPPER_RE = re.compile(r"^(?=.*[0-9])(?=.*[A-F])[0-9A-F]{8,}$")
_HEX_LOWER_RE = re.compile(r"^(?=.*[0-9])(?=.*[a-f])[0-9a-f]{8,}$")


def _generalise_component(component, last, counters=True):
    """The pattern for one path component: escaped literal text, with pids, counters and random runs as globs.

    ``counters``: digit runs inside names are counters (a program's own files), not versions (system trees).
    """
    esc = _aare.escape
    if component.isdigit():
        return "[0-9]*"
    for prefix in ("tmp.", "tmp"):  # mktemp, Python's tempfile: any run of name characters is random
        if component.startswith(prefix) and _NAME_RUN_RE.match(component[len(prefix) :]):
            return esc(prefix) + "*"
    match = _SUFFIX_RE.match(component)
    if match and (_is_random(match.group(2)) or _TMP_END_RE.search(match.group(1))):
        return esc(match.group(1)) + "*"
    head, sep, tail = component.rpartition(".")
    if sep and head and _is_random(head) and len(head) >= 8 and not tail.isdigit():
        return "*." + esc(tail)
    if _is_random(component) and len(component) >= 8 and sum(c.isdigit() for c in component) >= 2:
        return "*"
    if counters and _NUMBERS_RE.match(component):
        # Every number of the name, not only the last: 0.0 -> [0-9]*.[0-9]* (the worker is a counter too).
        return _DIGIT_RUN_RE.sub("[0-9]*", component)
    if counters and _HEX_UPPER_RE.match(component):
        return "[0-9A-F]*"
    if counters and _HEX_LOWER_RE.match(component):
        return "[0-9a-f]*"
    if counters and any(c.isalpha() for c in component):
        # Counters, pids and OIDs inside a name: pgsql_tmp21.0.fileset, 1247_vm, worker-17.log, 906978.json.
        out, last_end = [], 0
        for found in _DIGIT_RUN_RE.finditer(component):
            out.append(esc(component[last_end : found.start()]) + "[0-9]*")
            last_end = found.end()
        if out:
            return "".join(out) + esc(component[last_end:])
    match = _NUMBERED_RE.match(component) if last else None
    if match:
        return esc(match.group(1) or "") + "[0-9]*" + esc(match.group(3))
    return esc(component)


def generalise_path(path):
    """The rule pattern aa-logprof would suggest for ``path``: pids, numbered and random-named files become globs.

    ``/proc/3101/status`` -> ``@{PROC}/@{pid}/status``; ``/var/log/app/worker-17.log`` ->
    ``/var/log/app/worker-[0-9]*.log``; ``/tmp/tmpk3v9x_2q`` -> ``/tmp/tmp*``. Other paths stay as they are (escaped
    where they hold characters a pattern cannot take literally). Whether a glob may be used is the guard's call.
    """
    if path.startswith("/proc/"):
        parts = path[len("/proc/") :].split("/")
        out = [_aare.escape(part) for part in parts]
        if parts and parts[0].isdigit():
            out[0] = "@{pid}"
            if len(parts) > 2 and parts[1] == "task" and parts[2].isdigit():
                out[2] = "@{tid}"
        return "@{PROC}/" + "/".join(out)
    trailing = path.endswith("/")
    parts = path.strip("/").split("/")
    # Names in the system's own trees carry versions (python3.11, x86_64), not counters: those stay as they are.
    counters = parts[0] not in SYSTEM_TREES
    out = [_generalise_component(part, index == len(parts) - 1, counters) if part else part
           for index, part in enumerate(parts)]
    return "/" + "/".join(out) + ("/" if trailing and out != [""] else "")


def mask_perms(*masks):
    """Kernel masks (``wc``, ``rm``, ``x``) -> AppArmor permissions in canonical order (``w`` absorbs ``a``)."""
    chars = set()
    for mask in masks:
        for char in mask or "":
            perm = MASK_TO_PERMS.get(char)
            if perm:
                chars.add(perm)
    return _canonical_perms(chars)


def merge_perms(*perms):
    return _canonical_perms(set("".join(perms).replace("ix", "x").replace("i", "")))


def _canonical_perms(chars):
    if "w" in chars:
        chars.discard("a")
    exec_perm = "ix" if "x" in chars else ""
    chars.discard("x")
    return "".join(c for c in PERM_ORDER if c in chars) + exec_perm


# --------------------------------------------------------------------------------------------------------- items


class Item:
    """One thing to add: a rule, the events behind it, and what the guard says."""

    def __init__(self, kind, key, rule, apply=None):
        self.kind = kind  # file, exec, capability, network, signal, ptrace, mount, syscall, malformed, other
        self.key = key  # what ``approve`` names: a path pattern, "capability x", "network inet raw", a syscall
        self.rule = rule  # the rule as profile text (or the syscall name)
        self.apply = apply  # how it goes into a spec: (list name, value)
        self.count = 0
        self.examples = []
        self.comm = []
        self.first_seen = None
        self.last_seen = None
        self.reason = None  # why refused (None: admitted)
        self.category = None  # guard, conflict, malformed, unsupported
        self.approved = False
        self.note_text = None  # why a glob was narrowed to this literal
        self.baseline = None  # for a refused item: whether the baseline blocks it too (blocks, allows, unknown)
        self.perms = ""  # file items: the permissions of the rule

    def note(self, event, example=None):
        self.count += event.get("count") or 1
        if example and example not in self.examples and len(self.examples) < 5:
            self.examples.append(example)
        comms = event.get("comm") or []
        for comm in comms if isinstance(comms, list) else [comms]:
            if isinstance(comm, str) and comm and comm not in self.comm and len(self.comm) < 8:
                self.comm.append(comm)
        first, last = event.get("first_seen"), event.get("last_seen")
        if isinstance(first, str) and (self.first_seen is None or first < self.first_seen):
            self.first_seen = first
        if isinstance(last, str) and (self.last_seen is None or last > self.last_seen):
            self.last_seen = last

    def refuse(self, category, reason):
        self.category, self.reason = category, reason

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
        if self.note_text:
            out["note"] = self.note_text
        if self.baseline:
            out["baseline"] = self.baseline
        return out


def _approved(item, approve):
    return item.key in approve or item.rule in approve


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

    def writable(self):
        """The patterns the profile lets the container write (for the write-xor-execute check)."""
        return [glob for glob, granted in self.allow if set(granted) & set("wa")]

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


def _network_token(family, sock_type):
    if family in ("inet", "inet6") and sock_type == "stream":
        return "tcp"
    if family in ("inet", "inet6") and sock_type == "dgram":
        return "udp"
    return family


class _Items:
    """Items by (kind, key), in the order they were first seen."""

    def __init__(self):
        self.table = {}

    def get(self, kind, key, rule, apply=None):
        found = self.table.get((kind, key))
        if found is None:
            found = self.table[(kind, key)] = Item(kind, key, rule, apply)
        return found

    def values(self):
        return list(self.table.values())


def _own_profile(event, name):
    profile = event.get("profile") or ""
    return isinstance(profile, str) and (profile == name or profile.startswith(name + "//"))


def _classify(event, items, files, written, coverage, approve):
    """Validate one event and file it: rule items go into ``items``, file accesses into ``files`` (by generalised
    pattern, then literal path) and written paths into ``written``. Raises FieldError for a malformed field."""
    operation = event.get("operation") or ""
    if not isinstance(operation, str) or (operation and not _OPERATION_RE.fullmatch(operation)):
        raise FieldError("operation", operation, "an AppArmor operation name")
    if operation == "capable" or event.get("capability"):
        cap = _aa_rules.capability(event.get("capability"))
        rule = _aa_rules.capability_rule(cap)
        items.get("capability", rule[:-1], rule, ("capability", cap)).note(event)
    elif event.get("family") and operation in NETWORK_OPERATIONS:
        family = _aa_rules.family(event.get("family"))
        sock_type = _aa_rules.sock_type(event.get("sock_type"))
        rule = _aa_rules.network_rule(family, sock_type)
        raw = family == "packet" or (family in _guard.RAW_FAMILIES and sock_type == "raw")
        apply = ("network_raw", family) if raw else ("network", _network_token(family, sock_type))
        entry = items.get("network", rule[:-1], rule, apply)
        entry.family, entry.sock_type = family, sock_type
        entry.note(event)
    elif operation == "signal":
        access = event.get("requested_mask") or ""
        peer = _aa_rules.label(event.get("peer"))
        sig = _aa_rules.signal(event.get("signal"))
        rule = _aa_rules.signal_rule(access, peer, sig)
        key = "signal %s %s peer=%s" % (access, sig, peer) if sig else "signal %s peer=%s" % (access, peer)
        entry = items.get("signal", key, rule, ("extra_rules", rule))
        entry.peer, entry.access = peer, access
        entry.note(event)
    elif operation == "ptrace":
        peer = _aa_rules.label(event.get("peer"))
        access = _aa_rules.ptrace_access(event.get("requested_mask") or "")
        rule = _aa_rules.ptrace_rule(access, peer)
        entry = items.get("ptrace", "ptrace %s peer=%s" % (access, peer), rule, ("extra_rules", rule))
        entry.peer = peer
        entry.note(event)
    elif operation in MOUNT_OPERATIONS:
        rule = _aa_rules.mount_rule(operation, event.get("name"), event.get("srcname"), event.get("fstype"),
                                    _aa_rules.mount_flags(event.get("flags")))
        items.get("mount", rule[:-1], rule, ("extra_rules", rule)).note(event)
    elif operation in TRANSITION_OPERATIONS:
        target = _aa_rules.label(event.get("name") or event.get("target") or "unknown", "name")
        key = "%s %s" % (operation, target)
        items.get("transition", key, "# " + key, None).note(event)
    elif operation == "userns_create":
        items.get("userns", "userns create", "userns create,", ("extra_rules", "userns create,")).note(event)
    elif event.get("name") and operation in FILE_OPERATIONS and str(event["name"]).startswith("/"):
        path = _aa_rules.path(event["name"])
        requested = _aa_rules.mask(event.get("requested_mask"))
        denied = _aa_rules.mask(event.get("denied_mask"), "denied_mask")
        if set(requested + denied) & WRITE_MASK:
            written.add(path)
        perms = mask_perms(requested, denied)
        if not perms:
            return
        if coverage is not None:
            missing, denial = coverage.file(path, perms)
            if denial:
                pattern = _aare.escape(path)
                entry = items.get("file", pattern, _aa_rules.file_rule(pattern, perms), None)
                entry.perms = merge_perms(entry.perms, perms)
                entry.note(event, path)
                conflict = "the spec denies it (%s); remove or narrow that entry by hand if the access is wanted" % (
                    denial)
                attack, _entry = _guard.judge_path(pattern, perms)
                if attack and pattern not in approve and entry.rule not in approve:
                    entry.refuse("guard", "%s; besides, %s" % (attack, conflict))
                else:
                    entry.refuse("conflict", conflict)
                return
            if not missing:
                return
            perms = missing
        files.setdefault(generalise_path(path), {})
        paths = files[generalise_path(path)]
        paths.setdefault(path, ["", []])
        paths[path][0] = merge_perms(paths[path][0], perms)
        paths[path][1].append(event)
    else:
        label = "%s %s" % (operation or "unknown", _aare.escape(str(event.get("name") or ""))[:200])
        entry = items.get("other", "# " + label.strip(), "# " + label.strip(), None)
        entry.note(event)
        entry.refuse("unsupported", "no rule is generated for operation %r; review it by hand" % operation)


def _file_item(items, pattern, perms, events, paths):
    """The exec and file items for ``pattern`` with ``perms`` (exec goes to ``allow_exec``, the rest to ``files``)."""
    made = []
    if "x" in perms:
        entry = items.get("exec", pattern, _aa_rules.exec_rule(pattern), ("allow_exec", pattern))
        made.append(entry)
        perms = perms.replace("ix", "")
        if not perms.replace("m", "").replace("r", ""):
            perms = ""
    if perms:
        entry = items.get("file", pattern, None, ("files", pattern))
        entry.perms = merge_perms(entry.perms, perms)
        entry.rule = _aa_rules.file_rule(pattern, entry.perms)
        made.append(entry)
    for entry in made:
        for event, path in zip(events, paths):
            entry.note(event, path)
    return made


def _judge_file(entry, approve, writable):
    """Apply the guard to a file or exec item; True when it is refused."""
    perms = "mrix" if entry.kind == "exec" else entry.perms
    reason, _sensitive = _guard.judge_path(entry.key, perms)
    if reason is None and (entry.kind == "exec" or "m" in perms):
        for pattern, how in writable:
            if _aare.intersects(entry.key, pattern):
                reason = WXOR_REASON % how
                if how == "wrote during its trial":
                    reason += " (%s)" % _aare.unescape_literal(pattern)
                break
    if reason is None:
        return False
    if _approved(entry, approve):
        entry.approved = True
        return False
    entry.refuse("guard", reason)
    return True


def _file_items(items, files, written, coverage, approve):
    """Turn the grouped file accesses into items: a glob the guard refuses is narrowed to the literal paths seen."""
    writable = [(_aare.escape(path), "wrote during its trial") for path in sorted(written)]
    if coverage is not None:
        writable += [(pattern, "may write under its profile") for pattern in coverage.writable()]
    for pattern, paths in files.items():
        perms = merge_perms(*(value[0] for value in paths.values()))
        events = [event for value in paths.values() for event in value[1]]
        examples = [path for path, value in paths.items() for _event in value[1]]
        literal = _aare.is_literal(pattern)
        for entry in _file_item(_Items(), pattern, perms, events, examples):
            if not _judge_file(entry, approve, writable) or literal:
                _merge_into(items, entry)
                continue
            # A glob the guard refuses: narrow it to the literal paths seen, and judge those.
            for path, (path_perms, path_events) in paths.items():
                literal_items = _file_item(_Items(), _aare.escape(path), path_perms, path_events,
                                           [path] * len(path_events))
                for narrow in (item for item in literal_items if item.kind == entry.kind):
                    _judge_file(narrow, approve, writable)
                    narrow.note_text = "generalisation to %s withheld: %s" % (pattern, entry.reason)
                    _merge_into(items, narrow)


def _merge_into(items, entry):
    found = items.table.get((entry.kind, entry.key))
    if found is None:
        items.table[(entry.kind, entry.key)] = entry
        return
    if entry.kind == "file":
        found.perms = merge_perms(found.perms, entry.perms)
        found.rule = _aa_rules.file_rule(found.key, found.perms)
    found.count += entry.count
    for example in entry.examples:
        if example not in found.examples and len(found.examples) < 5:
            found.examples.append(example)
    if entry.reason and not found.reason:
        found.refuse(entry.category, entry.reason)


def _guard_rule(entry, name, approve):
    reason = None
    if entry.kind == "capability":
        reason = _guard.judge_capability(entry.apply[1])
    elif entry.kind == "network":
        reason = _guard.judge_network(entry.family, entry.sock_type)
    elif entry.kind == "mount":
        reason = _guard.MOUNT_REASON
    elif entry.kind == "transition":
        reason = _guard.TRANSITION_REASON
    elif entry.kind == "userns":
        reason = _guard.USERNS_REASON
    elif entry.kind == "ptrace":
        reason = _guard.judge_ptrace(entry.peer, name)
    elif entry.kind == "signal":
        reason = _guard.judge_signal(entry.access, entry.peer, name)
    if reason is None:
        return
    if _approved(entry, approve):
        entry.approved = True
    else:
        entry.refuse("guard", reason)


def apparmor_items(events, name, approve=(), coverage=None):
    """Turn AppArmor events of profile ``name`` (and its children) into items; apply the guard and coverage."""
    approve = set(approve or ())
    items = _Items()
    files = {}
    written = set()
    for event in events:
        if not _own_profile(event, name):
            continue
        try:
            _classify(event, items, files, written, coverage, approve)
        except (FieldError, _aare.PatternError) as exc:
            operation = event.get("operation") if isinstance(event.get("operation"), str) else "?"
            key = "malformed %s record" % (operation if _OPERATION_RE.fullmatch(operation or "") else "?")
            entry = items.get("malformed", key, "# " + key, None)
            entry.note(event)
            if entry.reason is None:
                entry.refuse("malformed", str(exc))
            elif str(exc) not in entry.reason and len(entry.reason) < 600:
                entry.reason += "; " + str(exc)
    for entry in items.values():
        if entry.reason is None:
            _guard_rule(entry, name, approve)
    _file_items(items, files, written, coverage, approve)
    return items.values()


def _spec_conflicts(entry, spec):
    """Reasons an admitted item cannot be expressed in the spec (the template's fixed denials)."""
    if entry.kind == "mount":
        return "the profile template denies mount (docker-default protection); no allow rule can admit it"
    if entry.kind == "capability" and entry.apply[1] in spec["capabilities"]["deny"]:
        return "the spec denies capability %s (capabilities.deny)" % entry.apply[1]
    return None


def _covered_in_spec(entry, spec, coverage):
    if entry.kind == "capability":
        return entry.apply[1] in coverage.caps_allow
    if entry.kind == "network":
        network = spec["network"]
        if entry.apply[0] == "network_raw":
            allowed = network["packet"] if entry.apply[1] == "packet" else network["raw"]
            # Unset and no protocol list: the profile's "network," allows it.
            return allowed is True or (allowed is None and not network["protocols"])
        return not network["protocols"] or entry.apply[1] in network["protocols"]
    if entry.kind == "signal":
        return entry.peer == spec["name"] or (entry.access == "receive" and entry.peer == "unconfined") or \
            entry.rule in spec["extra_rules"]
    if entry.kind == "ptrace":
        return entry.peer == spec["name"] or entry.rule in spec["extra_rules"]
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
            perms = entry.perms
            for rule in fs["files"]:
                if rule["path"] == value and not rule["deny"] and not rule["audit"] and not rule["owner"]:
                    rule["perms"] = merge_perms(rule["perms"], perms)
                    entry.rule = _aa_rules.file_rule(value, rule["perms"])
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


# Why each rule an opaque profile's events call for is refused (the report's header says the rest).
OPAQUE_REASON = ("the entry's own profile (apparmor.src or apparmor.content) is never widened; add the rule to it by "
                 "hand if the access is legitimate")


def review_apparmor_opaque(name, events, approve=()):
    """``(added, refused)`` for an AppArmor profile the runbook does not widen (a src or content seed).

    Nothing is added, whatever ``approve`` says: each rule the trial's events of profile ``name`` call for is
    refused, with the guard's reason when the guard refuses it too and :data:`OPAQUE_REASON` otherwise. ``AUDIT``
    records are accesses the profile's own ``audit`` rules allowed: they call for nothing.
    """
    if not isinstance(name, str) or not name:
        raise WidenError("the name of the profile is needed to review its events")
    events = [event for event in _event_list(events, "apparmor") if event.get("mode") != "AUDIT"]
    refused = []
    for entry in apparmor_items(events, name, approve):
        if entry.reason is None:
            entry.refuse("seed", OPAQUE_REASON + (" (approve cannot add it)" if entry.approved else ""))
            entry.approved = False
        refused.append(entry)
    return [], refused


# ------------------------------------------------------------------------------------------------------- seccomp

_SYSCALL_RE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
# AUDIT_ARCH names the collector maps records to (``_events.AUDIT_ARCHES``) and x32.
SECCOMP_ARCHES = frozenset(
    ("x86_64", "x86", "x32", "aarch64", "arm", "mips", "mipsel", "mips64", "mipsel64", "mips64n32", "mipsel64n32",
     "ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc", "parisc64", "riscv64", "loongarch64")
)
SYSCALL_NR_MAX = 0x40000000 + 4096  # the x32 bit plus any table size a kernel has


def _load_libseccomp():
    try:
        return _libseccomp.load()
    except _libseccomp.LibseccompError:  # no libseccomp: names are checked when the profile is deployed
        return None


def _syscall_problem(event, lib):
    """Why a seccomp event cannot be widened from (a malformed or unknown call), or None."""
    nr, arch, name = event.get("nr"), event.get("arch"), event.get("syscall")
    if not isinstance(nr, int) or isinstance(nr, bool) or not 0 <= nr < SYSCALL_NR_MAX:
        return "malformed", "malformed record: syscall number %r is out of range" % (nr,)
    if arch not in SECCOMP_ARCHES:
        return "malformed", "malformed record: architecture %r is not one the kernel audits" % (arch,)
    if not name:
        return "unsupported", "libseccomp has no name for syscall %s on %s; add it by hand" % (nr, arch)
    if not isinstance(name, str) or not _SYSCALL_RE.fullmatch(name):
        return "malformed", "malformed record: %r is not a syscall name" % (name,)
    if lib is not None:
        try:
            known = lib.resolve_name(name, arch)
        except _libseccomp.LibseccompError:  # an architecture this libseccomp does not know
            known = None
        if known is None:
            return "unsupported", "libseccomp knows no syscall %s on %s; add it by hand" % (name, arch)
    return None


def seccomp_items(events, approve=(), containers=None, lib=None):
    approve = set(approve or ())
    items = {}
    for event in events:
        if containers and event.get("container") not in containers:
            continue
        problem = _syscall_problem(event, lib)
        if problem is not None:
            category, reason = problem
            key = "nr %s/%s" % (_aare.escape(str(event.get("nr")))[:24], _aare.escape(str(event.get("arch")))[:24])
            entry = items.setdefault(("unknown", key), Item("syscall", key, key))
            entry.note(event, event.get("exe") if isinstance(event.get("exe"), str) else None)
            entry.refuse(category, reason)
            continue
        name = event["syscall"]
        entry = items.setdefault(("syscall", name), Item("syscall", name, name))
        entry.note(event, event.get("exe") if isinstance(event.get("exe"), str) else None)
    out = []
    for entry in items.values():
        if entry.reason is None:
            reason = _guard.judge_syscall(entry.key)
            if reason and entry.key in approve:
                entry.approved = True
            elif reason:
                entry.refuse("guard", reason)
        out.append(entry)
    return out


def _conditionally_allowed(profile):
    """``{name: "with argument conditions" | ...}`` for the names the profile allows only under a condition."""
    plain, conditional = set(), {}
    for rule in profile["syscalls"]:
        if rule["action"] != "SCMP_ACT_ALLOW":
            continue
        if not rule.get("args") and not rule.get("includes") and not rule.get("excludes"):
            plain.update(rule["names"])
            continue
        how = "with argument conditions" if rule.get("args") else "for some capabilities, architectures or kernels"
        for name in rule["names"]:
            conditional.setdefault(name, how)
    return {name: how for name, how in conditional.items() if name not in plain}


def widen_seccomp(profile, events, approve=(), containers=None, lib=None):
    """``(new_profile, added, refused)``: observed syscalls join the profile's unconditional allow-list."""
    try:
        profile = _seccomp.parse_profile(profile, check_names=False)
    except _seccomp.SeccompError as exc:
        raise WidenError("the seccomp profile is not valid: %s" % exc) from exc
    items = seccomp_items(_event_list(events, "seccomp"), approve, containers,
                          lib if lib is not None else _load_libseccomp())
    conditional = _conditionally_allowed(profile)
    for entry in items:
        if entry.reason is None and entry.key in conditional and not entry.approved:
            if entry.key in set(approve or ()):
                entry.approved = True
            else:
                entry.refuse("guard", "%s: the profile allows it only %s, and the call logged fell outside that "
                             "(Docker's default blocks it too); allowing it unconditionally would widen past the "
                             "baseline" % (entry.key, conditional[entry.key]))
    wanted = [entry for entry in items if entry.reason is None]
    refused = [entry for entry in items if entry.reason is not None]
    new, names = _seccomp.add_allowed(profile, [entry.key for entry in wanted])
    added = [entry for entry in wanted if entry.key in names]
    return new, added, refused


# ------------------------------------------------------------------------------------------------------ baseline


def _docker_default_denials():
    """Docker's docker-default denials as ``(pattern, perms)`` (mount apart), from the template's data."""
    from ansible_collections.confine.docker.plugins.module_utils._apparmor_template import DOCKER_DEFAULT_DENY

    out = []
    for rule in DOCKER_DEFAULT_DENY:
        pattern, _sep, perms = rule.rpartition(" ")
        if pattern:
            out.append((pattern, set(perms)))
    return out


DOCKER_DEFAULT_RECEIVES_FROM = ("unconfined", "runc", "crun")


def docker_default_blocks(entry, own):
    """``"blocks"``, ``"allows"`` or ``"unknown"``: what Docker's docker-default profile does with a refused item
    (with ``own``, the container's profile, standing for docker-default itself)."""
    if entry.kind in ("malformed", "other") or entry.category == "unsupported":
        return "unknown"
    if entry.kind == "mount":
        return "allows" if entry.key.startswith("umount") else "blocks"
    if entry.kind == "transition":
        return "blocks"  # docker-default has no change_profile rule
    if entry.kind == "userns":
        return "allows"  # docker-default (policy ABI 3.0) does not mediate user namespaces
    if entry.kind == "signal":
        if entry.access == "receive" and entry.peer in DOCKER_DEFAULT_RECEIVES_FROM:
            return "allows"
        return "allows" if entry.peer == own or entry.peer.startswith(own + "//") else "blocks"
    if entry.kind == "ptrace":
        return "allows" if entry.peer == own or entry.peer.startswith(own + "//") else "blocks"
    if entry.kind in ("file", "exec"):
        wanted = {"x"} if entry.kind == "exec" else _guard.perm_set(entry.perms)
        denials = _docker_default_denials()
        for perm in wanted:
            if not any(perm in perms and _aare.contains(pattern, entry.key) for pattern, perms in denials):
                return "allows"
        return "blocks"
    return "allows"  # capabilities, network: docker-default allows every one the container has


def _classify_apparmor_baseline(refused, baseline, own):
    for entry in refused:
        entry.baseline = docker_default_blocks(entry, own) if baseline == "docker_default" else "unknown"


def _classify_seccomp_baseline(refused, baseline, caps):
    policy = None
    if isinstance(baseline, dict):
        try:
            policy = _seccomp.effective_policy(baseline, _docker_caps() if caps is None else caps)
        except _seccomp.SeccompError as exc:
            raise WidenError("the seccomp baseline is not valid: %s" % exc) from exc
    for entry in refused:
        if policy is None or entry.category in ("malformed", "unsupported"):
            entry.baseline = "unknown"
        else:
            entry.baseline = "allows" if entry.key in policy["allow"] else "blocks"


def _docker_caps():
    from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker

    return _seccomp_docker.DEFAULT_CAPS


def container_caps(add=(), drop=()):
    """The capabilities of a container Docker starts with ``--cap-add``/``--cap-drop`` (``ALL`` included)."""
    names = {("CAP_" + cap.upper()) if not cap.upper().startswith("CAP_") else cap.upper() for cap in add or ()}
    dropped = {("CAP_" + cap.upper()) if not cap.upper().startswith("CAP_") else cap.upper() for cap in drop or ()}
    base = set() if "CAP_ALL" in dropped else set(_docker_caps())
    if "CAP_ALL" in names:
        base |= {"CAP_" + cap.upper() for cap in _apparmor.CAPABILITIES}
    return sorted((base | names) - dropped - {"CAP_ALL"})


# -------------------------------------------------------------------------------------------------------- report


def _cell(value):
    """Text for a Markdown table cell: no line breaks, pipes escaped, no backticks that would end a code span."""
    text = "" if value is None else str(value)
    text = "".join(" " if ord(char) < 32 or char == "\x7f" else char for char in text)
    return text.replace("|", "\\|").replace("`", "'")


CATEGORY_LABELS = {
    "guard": "possible attack / needs approval",
    "seed": "the entry's own profile: never widened",
    "conflict": "conflicts with the profile",
    "malformed": "not a record the kernel writes",
    "unsupported": "review by hand",
}


def render_report(kind, name, added, refused, events_total=None, opaque=False):
    """A Markdown review of a widening: what was added, what was refused and why, how to admit it. ``opaque``: the
    profile is one the runbook does not widen (:func:`review_apparmor_opaque`)."""
    lines = ["# Profile widening review: %s (%s)" % (name, kind), ""]
    if opaque:
        lines.append("**Not widened:** this profile is the container entry's own text (its `apparmor.src` or "
                     "`apparmor.content` seed). The runbook installs it as written and never adds rules to it: it "
                     "cannot tell what the profile's other rules already admit, so it cannot judge a new rule "
                     "safely. Each access the trial logged is refused below; `approve` cannot admit it. Add the "
                     "legitimate ones to the profile by hand and run the trial again; the others stay denied "
                     "under enforcement.")
        lines.append("")
    if events_total is not None:
        lines.append("Events reviewed: %d." % events_total)
    attacks = [e for e in refused if e.get("category") == "guard"]
    lines.append("Added: %d. Refused: %d (%d by the guard)." % (len(added), len(refused), len(attacks)))
    lines.append("")
    lines.append("## Added")
    lines.append("")
    if opaque:
        lines.append("Nothing: the profile is never widened.")
    elif added:
        lines.append("| Rule | Seen | Commands | Examples | Approved |")
        lines.append("|---|---|---|---|---|")
        for entry in added:
            lines.append("| `%s` | %d | %s | %s | %s |" % (
                _cell(entry["rule"]), entry["count"], _cell(", ".join(entry["comm"])),
                _cell(", ".join(entry["examples"])), "yes" if entry.get("approved") else ""))
    else:
        lines.append("Nothing: the profile already allows everything the events show.")
    lines.append("")
    narrowed = list({entry["key"]: entry for entry in added + refused if entry.get("note")}.values())
    if narrowed:
        lines.append("Narrowed to the literal paths seen (a glob would have covered more than the guard admits):")
        lines.append("")
        for entry in narrowed:
            lines.append("- `%s`: %s" % (_cell(entry["key"]), _cell(entry["note"])))
        lines.append("")
    lines.append("## Refused")
    lines.append("")
    if refused:
        if not opaque:
            lines.append("Items the guard refuses are possible attacks or need an explicit approval: add their key "
                         "to `approve` to admit them.")
            lines.append("")
        lines.append("| Rule | Why | Kind | Seen | Commands | Key%s |" % ("" if opaque else " for approve"))
        lines.append("|---|---|---|---|---|---|")
        for entry in refused:
            category = CATEGORY_LABELS.get(entry.get("category"), entry.get("category"))
            lines.append("| `%s` | %s | %s | %d | %s | `%s` |" % (
                _cell(entry["rule"]), _cell(entry.get("reason")), category, entry["count"],
                _cell(", ".join(entry["comm"])), _cell(entry["key"])))
    else:
        lines.append("Nothing.")
    lines.append("")
    return "\n".join(lines)


def widen(kind, profile, events, approve=(), name=None, containers=None, baseline=None, caps=None, opaque=False):
    """Widen ``profile`` (spec dict, profile text or seccomp profile) with ``events``.

    ``baseline`` is what the container would run under without the collection: ``"docker_default"`` for AppArmor
    (Docker's docker-default profile), a seccomp profile (Docker's default of the engine) for seccomp, with ``caps``
    the capabilities the container has (Docker's default set when None). Each refused item then says whether the
    baseline blocks it too (``baseline: blocks``; enforcing it as refused changes nothing the container had) or
    allows it (``allows``: it needs an approval or it stays denied); ``blockers`` are the keys of the refused items
    that are not blocked by the baseline.

    With ``opaque`` (AppArmor only), ``profile`` is not read: the profile ``name`` is one the runbook does not
    widen (:func:`review_apparmor_opaque`); the result's ``profile`` is None and its ``format`` ``opaque``.

    Returns ``{"profile", "format", "name", "added", "refused", "blockers", "report"}``; ``added``/``refused`` are
    lists of dicts (type, key, rule, count, examples, comm, first/last seen, reason, category, baseline).
    """
    if kind not in KINDS:
        raise WidenError("kind must be one of %s" % ", ".join(KINDS))
    if opaque and kind != "apparmor":
        raise WidenError("only an AppArmor profile can be opaque")
    if opaque:
        new = None
        added, refused = review_apparmor_opaque(name, events, approve)
        fmt, label = "opaque", name
        total = len(_event_list(events, "apparmor"))
        _classify_apparmor_baseline(refused, baseline, label)
    elif kind == "seccomp":
        new, added, refused = widen_seccomp(profile, events, approve, containers)
        fmt, label = "seccomp", name or "seccomp profile"
        total = len(_event_list(events, "seccomp"))
        _classify_seccomp_baseline(refused, baseline, caps)
    elif isinstance(profile, dict):
        new, added, refused = widen_apparmor_spec(profile, events, approve)
        fmt, label = "spec", new["name"]
        total = len(_event_list(events, "apparmor"))
        _classify_apparmor_baseline(refused, baseline, label)
    elif isinstance(profile, str):
        new, added, refused = widen_apparmor_text(profile, events, name, approve)
        fmt, label = "text", name or profile_names(profile)[0]
        total = len(_event_list(events, "apparmor"))
        _classify_apparmor_baseline(refused, baseline, label)
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
        "blockers": [entry["key"] for entry in refused if entry.get("baseline") != "blocks"],
        "report": render_report(kind, label, added, refused, total, opaque=opaque),
    }
