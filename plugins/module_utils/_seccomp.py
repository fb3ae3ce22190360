# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker seccomp profiles: model, validation, canonical JSON, effective policy and generation.

Plain Python (stdlib only, no Ansible imports), unit-tested directly. Profiles are dicts in Docker's JSON shape
(``defaultAction``, ``syscalls[]`` with ``names``/``action``/``args``/``includes``/``excludes``, ...). Everything that
comes in goes through :func:`parse_profile`, which either returns a normalised profile or raises
:class:`SeccompError` naming the JSON path (and line/column for text that does not parse).
"""

from __future__ import annotations

import copy
import difflib
import json
import platform
import re

from ansible_collections.confine.docker.plugins.module_utils import _libseccomp
from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker as docker_data
from ansible_collections.confine.docker.plugins.module_utils._libseccomp import SCMP_ARCHES, LibseccompError
from ansible_collections.confine.docker.plugins.module_utils._seccomp_docker import EngineError

DEFAULT_DIR = "/etc/docker/seccomp"
# Named bases for generate(); anything else is a profile.
BASES = ("docker_default", "empty", "runtime_minimum")
EPERM = 1
ENOSYS = 38

ACTIONS = (
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
)
# Actions that take errnoRet (for SCMP_ACT_TRACE it is the value the tracer sees).
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# Actions that stop the call from running.
BLOCKING_ACTIONS = frozenset(
    ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP")
)
OPERATORS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
FILTER_FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
# The architecture names Docker compares includes/excludes ``arches`` with (its libseccomp-style native names), and
# the SCMP_ARCH_* architectures each one covers.
NATIVE_ARCHES = {
    "x86": ("SCMP_ARCH_X86",),
    "amd64": ("SCMP_ARCH_X86_64",),
    "x32": ("SCMP_ARCH_X32",),
    "arm": ("SCMP_ARCH_ARM",),
    "arm64": ("SCMP_ARCH_AARCH64",),
    "mips": ("SCMP_ARCH_MIPS",),
    "mipsel": ("SCMP_ARCH_MIPSEL",),
    "mipsle": ("SCMP_ARCH_MIPSEL",),
    "mips64": ("SCMP_ARCH_MIPS64",),
    "mips64n32": ("SCMP_ARCH_MIPS64N32",),
    "mipsel64": ("SCMP_ARCH_MIPSEL64",),
    "mipsel64n32": ("SCMP_ARCH_MIPSEL64N32",),
    "mips3l64n32": ("SCMP_ARCH_MIPSEL64N32",),
    "ppc": ("SCMP_ARCH_PPC",),
    "ppc64": ("SCMP_ARCH_PPC64",),
    "ppc64le": ("SCMP_ARCH_PPC64LE",),
    "s390": ("SCMP_ARCH_S390",),
    "s390x": ("SCMP_ARCH_S390X",),
    "riscv64": ("SCMP_ARCH_RISCV64",),
    "loong64": ("SCMP_ARCH_LOONGARCH64",),
}
_SCMP_TO_NATIVE = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "amd64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "arm64",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mips3l64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loong64",
}
_MACHINE_TO_SCMP = {
    "x86_64": "SCMP_ARCH_X86_64",
    "amd64": "SCMP_ARCH_X86_64",
    "i386": "SCMP_ARCH_X86",
    "i686": "SCMP_ARCH_X86",
    "aarch64": "SCMP_ARCH_AARCH64",
    "arm64": "SCMP_ARCH_AARCH64",
    "armv7l": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
}

TOP_KEYS = (
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "archMap",
    "syscalls",
    "flags",
    "listenerPath",
    "listenerMetadata",
)
RULE_KEYS = ("name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes")
ARG_KEYS = ("index", "value", "valueTwo", "op")
FILTER_KEYS = ("caps", "arches", "minKernel")
ARCHMAP_KEYS = ("architecture", "subArchitectures")

SYSCALL_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
CAP_RE = re.compile(r"^CAP_[A-Z_]+$")
KERNEL_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(.*)$")
UINT64_MAX = 2**64 - 1

# Unconditionally allowing any of these hands a container a kernel attack surface Docker's default keeps closed.
DANGEROUS = frozenset(
    (
        "acct",
        "add_key",
        "bpf",
        "clock_settime",
        "create_module",
        "delete_module",
        "finit_module",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "get_kernel_syms",
        "init_module",
        "ioperm",
        "iopl",
        "kcmp",
        "kexec_file_load",
        "kexec_load",
        "keyctl",
        "lookup_dcookie",
        "mount",
        "mount_setattr",
        "move_mount",
        "name_to_handle_at",
        "nfsservctl",
        "open_by_handle_at",
        "open_tree",
        "perf_event_open",
        "pivot_root",
        "process_vm_writev",
        "query_module",
        "quotactl",
        "reboot",
        "request_key",
        "setns",
        "settimeofday",
        "stime",
        "swapoff",
        "swapon",
        "_sysctl",
        "umount",
        "umount2",
        "unshare",
        "uselib",
        "userfaultfd",
        "ustat",
        "vhangup",
        "vm86",
        "vm86old",
    )
)
# A default-allow profile that blocks fewer calls than this is a deny-list in name only.
WEAK_DENYLIST_SIZE = 40


class SeccompError(ValueError):
    """A profile or a request is not acceptable. ``path`` is the JSON path (``syscalls[3].action``)."""

    def __init__(self, message, path=None, line=None, column=None):
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        where = []
        if path:
            where.append(path)
        if line is not None:
            where.append("line %d column %d" % (line, column or 0))
        text = "%s: %s" % (", ".join(where), message) if where else message
        super().__init__(text)


# ---------------------------------------------------------------------------------------------------------------------
# Parsing and validation


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _suggest(value, choices):
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return " (did you mean %s?)" % close[0] if close else ""


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise SeccompError("duplicate key %r in one JSON object" % key)
        result[key] = value
    return result


def loads(text):
    """Decode profile text; SeccompError with line and column when it is not JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SeccompError("profile is not UTF-8 text: %s" % exc) from exc
    if not text.strip():
        raise SeccompError("profile is empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SeccompError("malformed JSON: %s" % exc.msg, line=exc.lineno, column=exc.colno) from exc
    except RecursionError:
        raise SeccompError("malformed JSON: nested too deeply to be a seccomp profile") from None


def _no_constant(name):
    # json accepts NaN and Infinity, which are not JSON; Docker's decoder refuses them.
    raise SeccompError("malformed JSON: %s is not a JSON value" % name)


def _check_keys(value, path, allowed):
    if not isinstance(value, dict):
        raise SeccompError("must be an object, got %s" % _json_type(value), path)
    for key in value:
        if key not in allowed:
            raise SeccompError(
                "unknown key %r%s; known keys: %s" % (key, _suggest(key, allowed), ", ".join(allowed)),
                _join(path, key),
            )


def _join(path, key):
    return "%s.%s" % (path, key) if path else key


def _uint(value, path, maximum=UINT64_MAX):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeccompError("must be an integer, got %s" % _json_type(value), path)
    if value < 0 or value > maximum:
        raise SeccompError("must be between 0 and %d, got %d" % (maximum, value), path)
    return value


def _action(value, path):
    if not isinstance(value, str):
        raise SeccompError("must be a string naming an SCMP_ACT_* action, got %s" % _json_type(value), path)
    if value not in ACTIONS:
        raise SeccompError("unknown action %r%s; known actions: %s" % (value, _suggest(value, ACTIONS),
                                                                       ", ".join(ACTIONS)), path)
    return value


def _string_list(value, path, what, check=None, unique=True):
    if isinstance(value, str):
        raise SeccompError("must be a list of %s, got a string (write [%s])" % (what, json.dumps(value)), path)
    if not isinstance(value, (list, tuple)):
        raise SeccompError("must be a list of %s, got %s" % (what, _json_type(value)), path)
    result = []
    for index, item in enumerate(value):
        where = "%s[%d]" % (path, index)
        if not isinstance(item, str):
            raise SeccompError("must be a string, got %s" % _json_type(item), where)
        if check is not None:
            check(item, where)
        if item not in result or not unique:
            result.append(item)
    return result


def _check_scmp_arch(value, path):
    if value not in SCMP_ARCHES:
        raise SeccompError("unknown architecture %r%s" % (value, _suggest(value, list(SCMP_ARCHES))), path)


def _check_native_arch(value, path):
    if value not in NATIVE_ARCHES:
        raise SeccompError(
            "unknown architecture %r%s; includes/excludes arches use Docker's names (%s)"
            % (value, _suggest(value, list(NATIVE_ARCHES)), ", ".join(NATIVE_ARCHES)),
            path,
        )


def _check_cap(value, path):
    if not CAP_RE.match(value):
        raise SeccompError("%r is not a capability name (write CAP_SYS_ADMIN, not sys_admin)" % value, path)


def _check_syscall_name(value, path):
    if not SYSCALL_RE.match(value):
        raise SeccompError("%r is not a syscall name" % value, path)


def parse_kernel(value, path="kernel"):
    """``"5.10"``, ``"4.8.0"`` or ``"6.1.0-18-amd64"`` -> (5, 10, 0); the way Docker parses minKernel."""
    if not isinstance(value, str):
        raise SeccompError("must be a kernel version string like \"4.8\", got %s" % _json_type(value), path)
    match = KERNEL_RE.match(value.strip())
    if not match:
        raise SeccompError("%r is not a kernel version (expected MAJOR.MINOR[.PATCH], e.g. \"4.8\")" % value, path)
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _filter(value, path):
    _check_keys(value, path, FILTER_KEYS)
    result = {}
    if value.get("caps"):
        result["caps"] = _string_list(value["caps"], _join(path, "caps"), "capability names", _check_cap)
    if value.get("arches"):
        result["arches"] = _string_list(value["arches"], _join(path, "arches"), "architectures", _check_native_arch)
    if value.get("minKernel") not in (None, ""):
        parse_kernel(value["minKernel"], _join(path, "minKernel"))
        result["minKernel"] = value["minKernel"]
    return result


def _arg(value, path):
    _check_keys(value, path, ARG_KEYS)
    for key in ("index", "op"):
        if key not in value:
            raise SeccompError("missing required key %r" % key, path)
    result = {"index": _uint(value["index"], _join(path, "index"), 5)}
    result["value"] = _uint(value.get("value", 0), _join(path, "value"))
    two = _uint(value.get("valueTwo", 0), _join(path, "valueTwo"))
    if two:
        result["valueTwo"] = two
    op = value["op"]
    if not isinstance(op, str) or op not in OPERATORS:
        raise SeccompError(
            "unknown operator %r%s; known operators: %s" % (op, _suggest(op, OPERATORS), ", ".join(OPERATORS)),
            _join(path, "op"),
        )
    result["op"] = op
    return result


def _rule(value, path):
    _check_keys(value, path, RULE_KEYS)
    has_name = value.get("name") not in (None, "")
    has_names = bool(value.get("names"))
    if has_name and has_names:
        raise SeccompError("'name' and 'names' are both given; use 'names' only", path)
    if has_name:
        if not isinstance(value["name"], str):
            raise SeccompError("must be a string, got %s" % _json_type(value["name"]), _join(path, "name"))
        _check_syscall_name(value["name"], _join(path, "name"))
        names = [value["name"]]
    elif has_names:
        names = _string_list(value["names"], _join(path, "names"), "syscall names", _check_syscall_name, False)
    else:
        raise SeccompError("a rule needs 'names' (a list of syscall names)", path)
    if "action" not in value:
        raise SeccompError("missing required key 'action'", path)
    rule = {"names": names, "action": _action(value["action"], _join(path, "action"))}
    if value.get("errnoRet") is not None:
        if rule["action"] not in ERRNO_ACTIONS:
            raise SeccompError("errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s"
                               % rule["action"], _join(path, "errnoRet"))
        rule["errnoRet"] = _uint(value["errnoRet"], _join(path, "errnoRet"), 4095)
    args = value.get("args")
    if args:
        if not isinstance(args, (list, tuple)):
            raise SeccompError("must be a list of argument filters, got %s" % _json_type(args), _join(path, "args"))
        rule["args"] = [_arg(item, "%s.args[%d]" % (path, index)) for index, item in enumerate(args)]
    comment = value.get("comment")
    if comment not in (None, ""):
        if not isinstance(comment, str):
            raise SeccompError("must be a string, got %s" % _json_type(comment), _join(path, "comment"))
        rule["comment"] = comment
    for key in ("includes", "excludes"):
        if value.get(key) is not None:
            gate = _filter(value[key], _join(path, key))
            if gate:
                rule[key] = gate
    return rule


def _kernel_le(a, b):
    return parse_kernel(a) <= parse_kernel(b)


def _gates_exclusive(a, b):
    """True when rules ``a`` and ``b`` can never both apply to one container (Docker's includes/excludes)."""
    for first, second in ((a, b), (b, a)):
        inc = first.get("includes", {})
        exc = second.get("excludes", {})
        if set(inc.get("caps", ())) & set(exc.get("caps", ())):
            return True
        if inc.get("arches") and set(inc["arches"]) <= set(exc.get("arches", ())):
            return True
        # includes.minKernel k: kernel >= k; excludes.minKernel k': kernel < k'.
        if inc.get("minKernel") and exc.get("minKernel") and _kernel_le(exc["minKernel"], inc["minKernel"]):
            return True
    a_arches = a.get("includes", {}).get("arches")
    b_arches = b.get("includes", {}).get("arches")
    return bool(a_arches and b_arches and not set(a_arches) & set(b_arches))


def _check_conflicts(rules):
    seen = {}
    for index, rule in enumerate(rules):
        outcome = (rule["action"], rule.get("errnoRet"))
        args_key = json.dumps(rule.get("args", []), sort_keys=True)
        for name_index, name in enumerate(rule["names"]):
            for other_index in seen.get((name, args_key), ()):
                other = rules[other_index]
                if (other["action"], other.get("errnoRet")) == outcome or _gates_exclusive(rule, other):
                    continue
                raise SeccompError(
                    "conflicting actions for syscall %r: %s here but %s in syscalls[%d] under the same conditions"
                    % (name, _describe(rule), _describe(other), other_index),
                    "syscalls[%d].names[%d]" % (index, name_index),
                )
            seen.setdefault((name, args_key), []).append(index)


def _describe(rule):
    if rule.get("errnoRet") is not None:
        return "%s(%d)" % (rule["action"], rule["errnoRet"])
    return rule["action"]


def _archmap(value, path):
    if not isinstance(value, (list, tuple)):
        raise SeccompError("must be a list, got %s" % _json_type(value), path)
    result = []
    for index, item in enumerate(value):
        where = "%s[%d]" % (path, index)
        _check_keys(item, where, ARCHMAP_KEYS)
        if "architecture" not in item:
            raise SeccompError("missing required key 'architecture'", where)
        arch = item["architecture"]
        if not isinstance(arch, str):
            raise SeccompError("must be a string, got %s" % _json_type(arch), _join(where, "architecture"))
        _check_scmp_arch(arch, _join(where, "architecture"))
        entry = {"architecture": arch}
        subs = item.get("subArchitectures")
        if subs:
            entry["subArchitectures"] = _string_list(subs, _join(where, "subArchitectures"), "architectures",
                                                     _check_scmp_arch)
        else:
            entry["subArchitectures"] = []
        result.append(entry)
    return result


def listed_arches(profile):
    """SCMP_ARCH_* names a profile lists (``architectures`` plus every ``archMap`` entry), in order."""
    result = []
    for arch in profile.get("architectures", ()):
        if arch not in result:
            result.append(arch)
    for entry in profile.get("archMap", ()):
        for arch in [entry["architecture"], *entry.get("subArchitectures", ())]:
            if arch not in result:
                result.append(arch)
    return result


def _load_lib(lib):
    if lib is not None:
        return lib
    try:
        return _libseccomp.load()
    except LibseccompError as exc:
        raise SeccompError("cannot check syscall names: %s" % exc) from exc


def _unknown_names(profile, lib):
    """``(path, name, arches, newer)`` of every name libseccomp does not know on the architectures that matter;
    ``newer``: it knows the name on no architecture at all (a syscall newer than the library, or not one)."""
    base = [arch for arch in listed_arches(profile) if lib.known_arch(arch)]
    if not base:
        base = [lib.native_arch()]
    every = [arch for arch in SCMP_ARCHES if lib.known_arch(arch)]
    found = []
    for index, rule in enumerate(profile.get("syscalls", ())):
        # A rule limited to some architectures (Docker's own arm, s390 and ppc groups) may name calls that exist
        # only there, on an architecture the profile does not list: libseccomp must know them on some architecture.
        arches = every if rule.get("includes", {}).get("arches") else base
        for name_index, name in enumerate(rule["names"]):
            if not any(lib.exists(name, arch) for arch in arches):
                newer = not any(lib.exists(name, arch) for arch in every)
                found.append(("syscalls[%d].names[%d]" % (index, name_index), name, arches, newer))
    return found


def check_syscall_names(profile, lib=None):
    """Raise SeccompError for a syscall name that is not a syscall on any architecture the profile lists.

    The profile's ``architectures``/``archMap`` (or the native architecture when it lists none) are checked; for a
    rule limited with ``includes.arches`` every architecture libseccomp knows is. A name the host's libseccomp knows
    on no architecture but Docker's default profile of some engine has (``listmount`` with libseccomp 2.5) is a
    syscall newer than the library: it is accepted (see :func:`libseccomp_gaps`).
    """
    lib = _load_lib(lib)
    docker_names = docker_data.described_names()
    problems = [problem[:3] for problem in _unknown_names(profile, lib)
                if not (problem[3] and problem[1] in docker_names)]
    if problems:
        path, name, arches = problems[0]
        more = ""
        if len(problems) > 1:
            more = " (also unknown: %s)" % ", ".join(sorted({p[1] for p in problems[1:]}))
        raise SeccompError(
            "%r is not a syscall on %s according to libseccomp %s%s"
            % (name, ", ".join(arches), lib.version, more),
            path,
        )


def libseccomp_gaps(profile, lib=None):
    """Names of ``profile`` the host's libseccomp does not know but Docker's default profile has (sorted).

    A runtime built with that libseccomp cannot resolve them: runc skips such rules, so the calls stay refused.
    """
    lib = _load_lib(lib)
    docker_names = docker_data.described_names()
    return sorted({name for _path, name, _arches, newer in _unknown_names(profile, lib)
                   if newer and name in docker_names})


def parse_profile(source, check_names=True, lib=None):
    """Validate a profile (JSON text, bytes or dict) and return it normalised; raise SeccompError otherwise.

    Normalised means: ``name`` becomes ``names``; names are sorted and unique per rule; empty ``args``, ``comment``,
    ``includes``/``excludes``, ``valueTwo: 0`` and ``subArchitectures: null`` are dropped or made empty. Rule order is
    kept. With ``check_names`` every syscall name is looked up with libseccomp.
    """
    data = loads(source) if isinstance(source, (str, bytes)) else copy.deepcopy(source)
    if not isinstance(data, dict):
        raise SeccompError("a seccomp profile is a JSON object, got %s" % _json_type(data))
    _check_keys(data, "", TOP_KEYS)
    if "defaultAction" not in data:
        raise SeccompError("missing required key 'defaultAction'")
    profile = {"defaultAction": _action(data["defaultAction"], "defaultAction")}
    if data.get("defaultErrnoRet") is not None:
        if profile["defaultAction"] not in ERRNO_ACTIONS:
            raise SeccompError("defaultErrnoRet is only valid with defaultAction SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
                               "defaultErrnoRet")
        profile["defaultErrnoRet"] = _uint(data["defaultErrnoRet"], "defaultErrnoRet", 4095)
    if data.get("architectures"):
        profile["architectures"] = _string_list(data["architectures"], "architectures", "architectures",
                                                _check_scmp_arch)
    if data.get("archMap"):
        if profile.get("architectures"):
            raise SeccompError("'architectures' and 'archMap' are both given; Docker refuses that, use one",
                               "archMap")
        profile["archMap"] = _archmap(data["archMap"], "archMap")
    if data.get("flags"):
        profile["flags"] = _string_list(data["flags"], "flags", "SECCOMP_FILTER_FLAG_* names",
                                        lambda v, p: _choice(v, p, FILTER_FLAGS))
    for key in ("listenerPath", "listenerMetadata"):
        if data.get(key) not in (None, ""):
            if not isinstance(data[key], str):
                raise SeccompError("must be a string, got %s" % _json_type(data[key]), key)
            profile[key] = data[key]
    syscalls = data.get("syscalls")
    if syscalls is None:
        syscalls = []
    if not isinstance(syscalls, (list, tuple)):
        raise SeccompError("must be a list of rules, got %s" % _json_type(syscalls), "syscalls")
    profile["syscalls"] = [_rule(item, "syscalls[%d]" % index) for index, item in enumerate(syscalls)]
    _check_conflicts(profile["syscalls"])
    if check_names:
        check_syscall_names(profile, lib)
    # Paths in errors above point into the input as given; the normalised form sorts the names.
    for rule in profile["syscalls"]:
        rule["names"] = sorted(set(rule["names"]))
    return profile


def _choice(value, path, choices):
    if value not in choices:
        raise SeccompError("unknown value %r%s; known: %s" % (value, _suggest(value, choices), ", ".join(choices)),
                           path)


def canonical_json(profile):
    """The one text form of a profile: sorted keys, two-space indent, trailing newline."""
    return json.dumps(profile, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# Effective policy


def native_arch_name(arch=None):
    """Docker's native architecture name (``amd64``) for ``x86_64``, ``SCMP_ARCH_X86_64``, ``amd64``..."""
    if arch is None:
        arch = platform.machine()
    if arch in NATIVE_ARCHES:
        return arch
    scmp = _MACHINE_TO_SCMP.get(arch)
    if scmp is None and isinstance(arch, str) and arch.upper() in SCMP_ARCHES:
        scmp = arch.upper()
    if scmp is None or scmp not in _SCMP_TO_NATIVE:
        raise SeccompError("unknown architecture %r" % (arch,), "arch")
    return _SCMP_TO_NATIVE[scmp]


def _normalise_caps(caps):
    result = set()
    for cap in caps or ():
        if not isinstance(cap, str) or not cap:
            raise SeccompError("capability names are strings, got %r" % (cap,), "caps")
        upper = cap.upper()
        result.add(upper if upper.startswith("CAP_") else "CAP_" + upper)
    return result


def rule_applies(rule, caps, arch, kernel):
    """Docker's filter (profiles/seccomp): does ``rule`` apply to a container with these caps, arch and kernel?"""
    exc = rule.get("excludes", {})
    inc = rule.get("includes", {})
    if arch in exc.get("arches", ()):
        return False
    if any(cap in caps for cap in exc.get("caps", ())):
        return False
    if exc.get("minKernel") and kernel >= parse_kernel(exc["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if any(cap not in caps for cap in inc.get("caps", ())):
        return False
    return not (inc.get("minKernel") and kernel < parse_kernel(inc["minKernel"]))


def _bucket(action):
    return {
        "SCMP_ACT_ALLOW": "allow",
        "SCMP_ACT_ERRNO": "errno",
        "SCMP_ACT_LOG": "log",
        "SCMP_ACT_KILL": "kill",
        "SCMP_ACT_KILL_PROCESS": "kill",
        "SCMP_ACT_KILL_THREAD": "kill",
        "SCMP_ACT_TRAP": "trap",
        "SCMP_ACT_TRACE": "trace",
        "SCMP_ACT_NOTIFY": "notify",
    }[action]


def effective_policy(profile, caps=(), arch="x86_64", kernel=None):
    """What a container with ``caps`` on ``arch`` and ``kernel`` gets from ``profile``, the way Docker computes it.

    Returns ``default`` (the default action), ``default_errno``, sets ``allow``/``errno``/``log``/``kill``/``trap``/
    ``trace``/``notify`` of syscalls whose unconditional rule has that action, ``errno_ret`` (name -> errno for the
    errno set), ``conditional`` (name -> sorted actions of rules that depend on argument values), ``rules`` (the
    rules Docker passes to the runtime) and ``architectures``.
    """
    if not isinstance(profile, dict) or "syscalls" not in profile:
        profile = parse_profile(profile, check_names=False)
    native = native_arch_name(arch)
    caps = _normalise_caps(caps)
    kernel_version = parse_kernel(kernel if kernel is not None else platform.release())
    result = {
        "default": profile["defaultAction"],
        "default_errno": profile.get("defaultErrnoRet"),
        "allow": set(),
        "errno": set(),
        "log": set(),
        "kill": set(),
        "trap": set(),
        "trace": set(),
        "notify": set(),
        "errno_ret": {},
        "conditional": {},
        "rules": [],
        "architectures": list(profile.get("architectures", ())),
    }
    if profile.get("archMap"):
        scmp_native = NATIVE_ARCHES[native][0]
        for entry in profile["archMap"]:
            if entry["architecture"] == scmp_native:
                result["architectures"] = [scmp_native, *entry.get("subArchitectures", ())]
                break
    if profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile.get("defaultErrnoRet") is None:
        result["default_errno"] = EPERM
    for rule in profile.get("syscalls", ()):
        if not rule_applies(rule, caps, native, kernel_version):
            continue
        result["rules"].append({k: v for k, v in rule.items() if k in ("names", "action", "errnoRet", "args")})
        bucket = _bucket(rule["action"])
        for name in rule["names"]:
            if rule.get("args"):
                actions = result["conditional"].setdefault(name, [])
                if rule["action"] not in actions:
                    actions.append(rule["action"])
                    actions.sort()
                continue
            result[bucket].add(name)
            if bucket == "errno":
                result["errno_ret"][name] = rule.get("errnoRet", EPERM)
    return result


def missing_runtime_minimum(profile, caps=(), arch="x86_64", kernel=None):
    """The calls of the runtime minimum (``_seccomp_docker.RUNTIME_MINIMUM``: what runc and the C library make before
    the program's first instruction) that ``profile`` neither allows nor logs for a container with ``caps``: a
    profile with any cannot start a container."""
    policy = effective_policy(profile, caps, arch, kernel)
    if policy["default"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"):
        refused = set()
        for bucket in ("errno", "kill", "trap", "trace", "notify"):
            refused |= policy[bucket]
        return sorted(set(docker_data.RUNTIME_MINIMUM) & refused)
    passing = policy["allow"] | policy["log"] | set(policy["conditional"])
    return sorted(set(docker_data.RUNTIME_MINIMUM) - passing)


def allowed_syscalls(profile, caps=(), arch="x86_64", kernel=None):
    """The syscalls that run without condition (allowed or logged, explicitly or by default action is not counted)."""
    policy = effective_policy(profile, caps, arch, kernel)
    return policy["allow"] | policy["log"]


# ---------------------------------------------------------------------------------------------------------------------
# Generation


def engine_description(engine=None):
    """Docker's default profile of ``engine`` (a version such as ``"26.1.5"``, a _seccomp_docker.Description, or
    None for 20.10.24) as a Description; SeccompError for a version that is not described."""
    if isinstance(engine, docker_data.Description):
        return engine
    try:
        return docker_data.description(engine)
    except EngineError as exc:
        raise SeccompError(str(exc), "engine") from exc


def docker_default_profile(engine=None):
    """Docker's built-in default profile of ``engine`` (20.10.24 when None) as a normalised profile dict."""
    return _from_groups(drop_groups=(), description=engine_description(engine))


def _from_groups(drop_groups, description):
    dropped = set(drop_groups)
    known = docker_data.all_group_names()
    for group in dropped:
        if group not in known:
            raise SeccompError("unknown group %r%s; Docker's default has: %s"
                               % (group, _suggest(group, known), ", ".join(known)), "drop_groups")
    allow = sorted(
        name for group, names in description.allow_groups.items() if group not in dropped for name in names
    )
    rules = []
    if allow:
        rules.append({"names": allow, "action": "SCMP_ACT_ALLOW"})
    for group, rule in description.conditional_rules:
        if group not in dropped:
            rules.append(copy.deepcopy(rule))
    profile = {
        "defaultAction": description.default_action,
        "archMap": [{"architecture": arch, "subArchitectures": list(subs)} for arch, subs in description.arch_map],
        "syscalls": rules,
    }
    if description.default_errno is not None:
        profile["defaultErrnoRet"] = description.default_errno
    return parse_profile(profile, check_names=False)


def _empty_profile():
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [{"architecture": arch, "subArchitectures": list(subs)} for arch, subs in docker_data.ARCH_MAP],
        "syscalls": [],
    }


def _names(value, path):
    if value is None:
        return []
    return _string_list(value, path, "syscall names", _check_syscall_name)


def _is_plain(rule):
    return not rule.get("args") and not rule.get("includes") and not rule.get("excludes")


def _drop_names(rules, names, actions):
    """Remove ``names`` from every rule whose action is in ``actions``; drop rules left empty."""
    result = []
    for rule in rules:
        if rule["action"] in actions:
            kept = [n for n in rule["names"] if n not in names]
            if not kept:
                continue
            rule = dict(rule, names=kept)
        result.append(rule)
    return result


def _apply_mode(profile, mode):
    if mode is None:
        return profile
    if mode == "log":
        profile["defaultAction"] = "SCMP_ACT_LOG"
        profile.pop("defaultErrnoRet", None)
        # The trial blocks nothing: rules that would block are logged instead (conditional blocks too).
        rules = []
        for rule in profile["syscalls"]:
            if rule["action"] in BLOCKING_ACTIONS:
                rule = {k: v for k, v in rule.items() if k != "errnoRet"}
                rule["action"] = "SCMP_ACT_LOG"
            rules.append(rule)
        profile["syscalls"] = rules
    elif mode == "enforce":
        profile["defaultAction"] = "SCMP_ACT_ERRNO"
        profile["defaultErrnoRet"] = EPERM
    else:
        raise SeccompError("mode must be 'log' or 'enforce', got %r" % (mode,), "mode")
    return profile


def generate(base="docker_default", mode="enforce", allow=(), deny=(), drop_groups=(), engine=None):
    """Build a profile.

    ``base``: ``docker_default`` (Docker's built-in profile of ``engine`` - 20.10.24 when None - minus
    ``drop_groups``), ``empty`` (a pure allow-list), ``runtime_minimum`` (the allow-list every container needs to
    start, see _seccomp_docker.RUNTIME_MINIMUM, with ``clone3`` answered ENOSYS unless allowed, so that the C library
    falls back to ``clone`` as it does under Docker's default) or a profile (dict or text, for example one recorded
    by oci-seccomp-bpf-hook). ``mode``: ``enforce`` (everything not allowed fails with EPERM), ``log`` (the trial:
    nothing is blocked, what enforce would block is logged) or None to keep the base's default action. ``allow``
    names are allowed unconditionally; ``deny`` names are taken out of every allow rule (and blocked with EPERM when
    the default action would let them run).
    """
    allow = _names(allow, "allow")
    deny = _names(deny, "deny")
    both = sorted(set(allow) & set(deny))
    if both:
        raise SeccompError("syscalls both allowed and denied: %s" % ", ".join(both), "deny")
    if drop_groups and base != "docker_default":
        raise SeccompError("drop_groups only applies to base docker_default", "drop_groups")
    if engine is not None and base != "docker_default":
        raise SeccompError("engine only applies to base docker_default", "engine")
    if base == "docker_default":
        profile = _from_groups(_string_list(drop_groups or [], "drop_groups", "group names"),
                               engine_description(engine))
    elif base == "empty":
        profile = _empty_profile()
    elif base == "runtime_minimum":
        profile = _empty_profile()
        if "clone3" not in allow and "clone3" not in deny:
            # glibc (2.34 and later) tries clone3 first and falls back to clone only on ENOSYS: with the default
            # EPERM a profile that allows clone could not start a thread. Docker's default answers the same way.
            profile["syscalls"].append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
        allow = sorted(set(allow) | set(docker_data.RUNTIME_MINIMUM) - set(deny))
    elif isinstance(base, (dict, str, bytes)):
        profile = parse_profile(base, check_names=False)
    else:
        raise SeccompError("base must be docker_default, empty or a profile, got %r" % (base,), "base")
    profile = copy.deepcopy(profile)
    if base in BASES and mode is None:
        mode = "enforce"
    profile = _apply_mode(profile, mode)
    rules = profile["syscalls"]
    if deny:
        rules = _drop_names(rules, set(deny), ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"))
        if profile["defaultAction"] in ("SCMP_ACT_ALLOW",) or (
            profile["defaultAction"] == "SCMP_ACT_LOG" and mode != "log"
        ):
            rules.append({"names": sorted(deny), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM})
    profile["syscalls"] = rules
    if allow:
        profile, _added = add_allowed(profile, allow)
    return parse_profile(profile, check_names=False)


def add_allowed(profile, names):
    """Allow ``names`` unconditionally. Returns ``(new_profile, added)``; adding what is there changes nothing.

    Names go into the first plain (unconditional) SCMP_ACT_ALLOW rule, or a new one at the front; unconditional
    rules that would block or log them lose them. A name that a conditional rule (``includes``/``excludes``) gives
    another action is a decision of the profile (Docker's default answers ``clone3`` with ENOSYS unless the container
    has CAP_SYS_ADMIN, so that the C library falls back to ``clone``): it is left as it is and not added. The result
    is normalised (canonical form).
    """
    profile = parse_profile(profile, check_names=False)
    wanted = _names(names, "names")
    rules = profile["syscalls"]
    plain_allowed = set()
    decided = set()
    for rule in rules:
        if rule["action"] == "SCMP_ACT_ALLOW" and _is_plain(rule):
            plain_allowed.update(rule["names"])
        elif rule["action"] != "SCMP_ACT_ALLOW" and not _is_plain(rule):
            decided.update(rule["names"])
    added = sorted(set(wanted) - plain_allowed - decided)
    if not added:
        return profile, []
    new_rules = []
    placed = False
    for rule in rules:
        if _is_plain(rule):
            if rule["action"] == "SCMP_ACT_ALLOW" and not placed:
                rule = dict(rule, names=sorted(set(rule["names"]) | set(added)))
                placed = True
            elif rule["action"] != "SCMP_ACT_ALLOW":
                kept = [n for n in rule["names"] if n not in added]
                if not kept:
                    continue
                rule = dict(rule, names=kept)
        new_rules.append(rule)
    if not placed:
        new_rules.insert(0, {"names": added, "action": "SCMP_ACT_ALLOW"})
    profile["syscalls"] = new_rules
    return parse_profile(profile, check_names=False), added


def unused_groups(observed, engine=None):
    """Topical groups of ``engine``'s Docker default none of whose syscalls were ``observed``.

    A group's syscalls are its part of the allow-list and its conditional rules (``socket`` is one from 23.0 on).
    The runtime's minimum groups are always kept; a group an engine has emptied (io_uring from 25.0) is not listed.
    """
    seen = set(_names(observed, "observed"))
    description = engine_description(engine)
    result = []
    for group in description.allow_groups:
        names = description.group_syscalls(group)
        if group in docker_data.RUNTIME_MINIMUM_GROUPS or not names:
            continue
        if not seen & names:
            result.append(group)
    return result


def least_privilege(observed_syscalls, base="empty", mode="enforce", engine=None):
    """A profile for an application that was observed making ``observed_syscalls``.

    ``base="empty"``: the runtime's minimum plus exactly what was observed. ``base="docker_default"``: ``engine``'s
    Docker default with the topical groups the application never touched removed (one call instead of a list by
    hand).
    """
    observed = _names(observed_syscalls, "observed_syscalls")
    if base == "empty":
        return generate("runtime_minimum", mode=mode, allow=observed)
    if base == "docker_default":
        return generate("docker_default", mode=mode, drop_groups=unused_groups(observed, engine), engine=engine)
    raise SeccompError("least_privilege base must be empty or docker_default, got %r" % (base,), "base")


# ---------------------------------------------------------------------------------------------------------------------
# Review


def weakness_warnings(profile, caps=docker_data.DEFAULT_CAPS, arch="x86_64", kernel=None, engine=None):
    """Plain-language warnings about a profile that protects less than it seems to.

    Dangerous calls are those of DANGEROUS that Docker's default of ``engine`` (the newest described one when None)
    keeps from a container with default capabilities: from 24.0.3 on that is no longer true of name_to_handle_at.
    """
    policy = effective_policy(profile, caps, arch, kernel)
    warnings = []
    default = profile["defaultAction"]
    if default == "SCMP_ACT_ALLOW":
        blocked = sorted(policy["errno"] | policy["kill"] | policy["trap"])
        if len(blocked) < WEAK_DENYLIST_SIZE:
            shown = ", ".join(blocked[:10]) + (", ..." if len(blocked) > 10 else "")
            warnings.append(
                "weak profile: defaultAction SCMP_ACT_ALLOW lets every syscall it does not name run and it blocks "
                "only %d (%s); a deny-list misses new and rarely used syscalls, prefer SCMP_ACT_ERRNO with an "
                "allow-list" % (len(blocked), shown or "none")
            )
        else:
            warnings.append(
                "defaultAction SCMP_ACT_ALLOW lets every syscall the profile does not name run; prefer "
                "SCMP_ACT_ERRNO with an allow-list"
            )
    elif default == "SCMP_ACT_LOG":
        warnings.append(
            "defaultAction SCMP_ACT_LOG blocks nothing: use it for the trial run only and switch to mode enforce"
        )
    if default != "SCMP_ACT_ALLOW":
        reference = engine if engine is not None else docker_data.versions.NEWEST
        docker = effective_policy(docker_default_profile(reference), docker_data.DEFAULT_CAPS, arch, kernel)
        risky = sorted((DANGEROUS & policy["allow"]) - docker["allow"])
        if risky:
            warnings.append(
                "allows syscalls Docker's default keeps from a container with default capabilities: %s"
                % ", ".join(risky)
            )
    notify = [r for r in profile.get("syscalls", ()) if r["action"] == "SCMP_ACT_NOTIFY"]
    if (notify or default == "SCMP_ACT_NOTIFY") and not profile.get("listenerPath"):
        warnings.append("SCMP_ACT_NOTIFY is used but no listenerPath is set: the runtime has no agent to ask")
    if not profile.get("architectures") and not profile.get("archMap"):
        warnings.append(
            "no architectures listed: only the native ABI is filtered and calls through other ABIs (32-bit x86, "
            "x32) meet the runtime's bad-architecture action; list them (or an archMap) to decide explicitly"
        )
    return warnings
