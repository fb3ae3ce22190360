# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AppArmor profiles for containers: spec model, bane input, mode flags, kernel state and ``apparmor_parser``.

Plain Python (stdlib only, no Ansible imports): it runs on targets and is unit-tested directly. Rendering a spec to
profile text needs Jinja2 and happens on the controller (the ``apparmor_profile`` action plugin) from the template in
``_apparmor_template``; :func:`template_context` prepares everything the template needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from ansible_collections.confine.docker.plugins.module_utils import _aare
from ansible_collections.confine.docker.plugins.module_utils._io import atomic_write, make_temp_dir

DEFAULT_DIR = "/etc/apparmor.d/containers"
SECURITYFS = "/sys/kernel/security/apparmor"
ENABLED_PARAM = "/sys/module/apparmor/parameters/enabled"
# Where a host keeps its policy ABIs (``abi <abi/4.0>,`` names /etc/apparmor.d/abi/4.0) and the abstraction every
# generated profile includes.
ABI_DIR = "/etc/apparmor.d/abi"
BASE_ABSTRACTION = "/etc/apparmor.d/abstractions/base"
# The policy ABIs the profile template is written for (see _apparmor_template): AppArmor 3 (Debian 12) ships 3.0,
# AppArmor 4 (Debian 13) ships 3.0 and 4.0.
TEMPLATE_ABIS = ("3.0", "4.0")
ABI_RE = re.compile(r"^[0-9]+\.[0-9]+$")
# ``abi`` declares a feature ABI from AppArmor 3.0 on; older parsers do not know the keyword.
ABI_MIN_PARSER = (3, 0)
MODES = ("enforce", "complain")
# Flags that select a profile's mode; everything else in flags=(...) is kept as written.
MODE_FLAGS = frozenset(("complain", "enforce", "kill", "unconfined", "prompt"))

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NAME_MAX = 200
# Profiles of the host that a container profile must never replace: loading a file that declares one of these
# would change the confinement of every other container (docker-default) or of the runtime itself.
RESERVED_NAMES = frozenset(
    ("docker-default", "unconfined", "runc", "crun", "containerd", "containerd-shim", "buildah", "rootlesskit",
     "podman", "lxc-default", "lxc-container-default", "default_cni")
)

CAPABILITIES = frozenset(
    (
        "audit_control",
        "audit_read",
        "audit_write",
        "block_suspend",
        "bpf",
        "checkpoint_restore",
        "chown",
        "dac_override",
        "dac_read_search",
        "fowner",
        "fsetid",
        "ipc_lock",
        "ipc_owner",
        "kill",
        "lease",
        "linux_immutable",
        "mac_admin",
        "mac_override",
        "mknod",
        "net_admin",
        "net_bind_service",
        "net_broadcast",
        "net_raw",
        "perfmon",
        "setfcap",
        "setgid",
        "setpcap",
        "setuid",
        "sys_admin",
        "sys_boot",
        "sys_chroot",
        "sys_module",
        "sys_nice",
        "sys_pacct",
        "sys_ptrace",
        "sys_rawio",
        "sys_resource",
        "sys_time",
        "sys_tty_config",
        "syslog",
        "wake_alarm",
    )
)
# Network qualifiers a spec may list: protocols (expanded to inet and inet6), socket types and address families.
NET_PROTOCOLS = ("tcp", "udp", "icmp")
NET_TYPES = frozenset(("stream", "dgram", "seqpacket", "rdm", "raw", "packet"))
NET_DOMAINS = frozenset(
    (
        "unix",
        "inet",
        "inet6",
        "netlink",
        "packet",
        "ax25",
        "ipx",
        "appletalk",
        "netrom",
        "bridge",
        "atmpvc",
        "x25",
        "rose",
        "netbeui",
        "security",
        "key",
        "ash",
        "econet",
        "atmsvc",
        "rds",
        "sna",
        "irda",
        "pppox",
        "wanpipe",
        "llc",
        "ib",
        "mpls",
        "can",
        "tipc",
        "bluetooth",
        "iucv",
        "rxrpc",
        "isdn",
        "phonet",
        "ieee802154",
        "caif",
        "alg",
        "nfc",
        "vsock",
        "kcm",
        "qipcrtr",
        "smc",
        "xdp",
        "mctp",
    )
)
# AppArmor file permissions, with the exec transitions (ix, px, Px, cx, Cx, ux, Ux, pix, ...).
PERMS_RE = re.compile(r"^(?=.)[rwalkm]*(?:(?:[iuUpPcC]|[pPcC]i|[pPcC]u)?x)?[rwalkm]*$")

FILESYSTEM_KEYS = (
    "read_only_paths",
    "log_on_write_paths",
    "writable_paths",
    "allow_exec",
    "deny_exec",
    "deny_paths",
)
SPEC_KEYS = frozenset(("name", "filesystem", "capabilities", "network", "extra_rules"))

BANE_FILESYSTEM = {
    "ReadOnlyPaths": "read_only_paths",
    "LogOnWritePaths": "log_on_write_paths",
    "WritablePaths": "writable_paths",
    "AllowExec": "allow_exec",
    "DenyExec": "deny_exec",
}
BANE_PREFIX = "docker-"


class AppArmorError(Exception):
    """Base of every error this module raises; the message is meant for the user as it is."""


class SpecError(AppArmorError, ValueError):
    """A spec (or bane file) that cannot be turned into a profile. ``path`` names the offending key."""

    def __init__(self, message, path=None):
        self.path = path
        super().__init__("%s: %s" % (path, message) if path else message)


class ProfileError(AppArmorError):
    """Profile text that does not declare or cannot carry the requested profile."""


class ParserError(AppArmorError):
    """``apparmor_parser`` refused a profile. ``line`` is the line it names, when it names one."""

    def __init__(self, message, line=None, rc=None):
        self.line = line
        self.rc = rc
        super().__init__(message)


class NotEnabledError(AppArmorError):
    """The host's kernel does not have AppArmor enabled."""


# --------------------------------------------------------------------------------------------------- names and paths


def validate_name(name):
    """Return ``name`` when it is safe as a profile name and a file name; raise SpecError otherwise."""
    if not isinstance(name, str) or not name:
        raise SpecError("profile name must be a non-empty string", "name")
    if len(name) > NAME_MAX:
        raise SpecError("profile name is longer than %d characters" % NAME_MAX, "name")
    if ".." in name or not NAME_RE.fullmatch(name):
        raise SpecError(
            "invalid profile name %r: use letters, digits, '_', '.' and '-', starting with a letter or digit "
            "(no '/', '..', spaces or shell characters)" % name,
            "name",
        )
    if name in RESERVED_NAMES:
        raise SpecError("profile name %r is reserved: it names a profile of the host (loading a file that declares it "
                        "would replace that profile for everything it confines)" % name, "name")
    return name


def default_path(name):
    """Where the profile file for ``name`` goes unless the user says otherwise."""
    return os.path.join(DEFAULT_DIR, validate_name(name))


def validate_rule_path(value, where):
    """Check a path or glob used in a file rule; return it unchanged."""
    if not isinstance(value, str) or not value:
        raise SpecError("must be a non-empty string", where)
    if not (value.startswith("/") or value.startswith("@{")):
        raise SpecError("path %r must be absolute (start with '/' or a variable such as @{PROC})" % value, where)
    if re.search(r"[\s#\"\x00]", value):
        raise SpecError("path %r contains whitespace, '#' or quotes (write them as octal escapes, \\040 for a space)"
                        % value, where)
    depth = 0
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            if not re.match(r"[0-7]{3}|[*?\[\]{}^@\\\",!#]", value[index + 1 : index + 4]):
                raise SpecError("path %r has a backslash that escapes nothing (escape one of *?[]{}^@,\\ or write "
                                "an octal byte such as \\040)" % value, where)
            index += 4 if value[index + 1 : index + 2].isdigit() else 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                break
        elif char == "," and depth == 0:
            raise SpecError("path %r has a ',' outside a {a,b} alternation" % value, where)
        index += 1
    if depth != 0:
        raise SpecError("path %r has unbalanced braces" % value, where)
    try:
        _aare.validate(value)
    except _aare.PatternError as exc:
        raise SpecError("path %r is not a valid pattern: %s" % (value, exc), where) from exc
    return value


# ---------------------------------------------------------------------------------------------------------- the spec


def _string_list(value, where, check=None):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError("must be a list", where)
    out = []
    for index, item in enumerate(value):
        item_where = "%s[%d]" % (where, index)
        if not isinstance(item, str):
            raise SpecError("must be a string, got %s" % type(item).__name__, item_where)
        item = item.strip()
        if check is not None:
            item = check(item, item_where)
        if item not in out:
            out.append(item)
    return out


def _mapping(value, where, allowed):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError("must be a mapping", where)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise SpecError("unknown key(s) %s (known: %s)" % (", ".join(map(str, unknown)), ", ".join(allowed)), where)
    return value


def _bool(value, where, default=False):
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SpecError("must be true or false", where)
    return value


def _capability(value, where):
    cap = value.lower()
    if cap.startswith("cap_"):
        raise SpecError("write capabilities without the CAP_ prefix (%r -> %r)" % (value, cap[4:]), where)
    if cap not in CAPABILITIES:
        raise SpecError("unknown capability %r" % value, where)
    return cap


def _protocol(value, where):
    token = value.lower()
    if token not in NET_PROTOCOLS and token not in NET_TYPES and token not in NET_DOMAINS:
        raise SpecError(
            "unknown network qualifier %r (use a protocol %s, a socket type or an address family such as unix)"
            % (value, "/".join(NET_PROTOCOLS)),
            where,
        )
    return token


_INCLUDE_RE = re.compile(r"^\s*(?:#include|include)\b(?:\s+if\s+exists\b)?\s*(.*)$")


def _extra_rule(value, where):
    if not value:
        raise SpecError("must not be empty", where)
    if "\n" in value or "\r" in value or "\x00" in value:
        raise SpecError("a rule must be a single line", where)
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            raise SpecError("rule %r closes a block it did not open (an extra rule stays inside its profile)" % value,
                            where)
    if depth != 0:
        raise SpecError("rule %r has unbalanced braces" % value, where)
    include = _INCLUDE_RE.match(value)
    if include and not re.match(r"<[A-Za-z0-9_.+-][A-Za-z0-9_./+-]*>$", include.group(1).strip()):
        raise SpecError("rule %r includes %s: extra rules may include only abstractions from the policy directory "
                        "(#include <abstractions/...>), never a path on the host" % (value, include.group(1).strip()
                                                                                     or "nothing"), where)
    if include and ".." in include.group(1):
        raise SpecError("rule %r includes a path with '..'" % value, where)
    if not value.startswith("#") and not value.endswith(","):
        raise SpecError("rule %r must end with ','" % value, where)
    return value


def _file_rules(value, where):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SpecError("must be a list", where)
    out = []
    for index, item in enumerate(value):
        item_where = "%s[%d]" % (where, index)
        item = _mapping(item, item_where, ("path", "perms", "audit", "deny", "owner"))
        path = validate_rule_path(item.get("path"), item_where + ".path")
        perms = item.get("perms")
        if not isinstance(perms, str) or not PERMS_RE.match(perms):
            raise SpecError(
                "perms %r are not AppArmor file permissions (r, w, a, l, k, m and one exec mode such as ix, px, cx)"
                % (perms,),
                item_where + ".perms",
            )
        rule = {
            "path": path,
            "perms": perms,
            "audit": _bool(item.get("audit"), item_where + ".audit"),
            "deny": _bool(item.get("deny"), item_where + ".deny"),
            "owner": _bool(item.get("owner"), item_where + ".owner"),
        }
        if rule not in out:
            out.append(rule)
    return out


def normalize_spec(spec, name=None):
    """Validate a spec dict and return it in canonical form (every key present, lists de-duplicated in order).

    ``name`` (the module's ``name``) fills in a missing ``name``; when both are given they must agree.
    """
    if isinstance(spec, dict) and is_bane_spec(spec):
        spec = spec_from_bane(spec)
    spec = _mapping(spec, "spec", sorted(SPEC_KEYS))
    spec_name = spec.get("name")
    if spec_name is None:
        if name is None:
            raise SpecError("the spec has no name and none was given", "name")
        spec_name = name
    validate_name(spec_name)
    if name is not None and name != spec_name:
        raise SpecError("spec names profile %r but the task names %r" % (spec_name, name), "name")

    fs_in = _mapping(spec.get("filesystem"), "filesystem", (*FILESYSTEM_KEYS, "files"))
    filesystem = {key: _string_list(fs_in.get(key), "filesystem." + key, validate_rule_path) for key in FILESYSTEM_KEYS}
    filesystem["files"] = _file_rules(fs_in.get("files"), "filesystem.files")

    caps_in = _mapping(spec.get("capabilities"), "capabilities", ("allow", "deny"))
    capabilities = {
        "allow": _string_list(caps_in.get("allow"), "capabilities.allow", _capability),
        "deny": _string_list(caps_in.get("deny"), "capabilities.deny", _capability),
    }
    both = sorted(set(capabilities["allow"]) & set(capabilities["deny"]))
    if both:
        raise SpecError("capabilities both allowed and denied: %s" % ", ".join(both), "capabilities")

    net_in = _mapping(spec.get("network"), "network", ("raw", "packet", "protocols"))
    network = {
        # None: the spec says nothing, and the profile denies nothing Docker's docker-default allows.
        "raw": _bool(net_in.get("raw"), "network.raw", default=None),
        "packet": _bool(net_in.get("packet"), "network.packet", default=None),
        "protocols": _string_list(net_in.get("protocols"), "network.protocols", _protocol),
    }
    return {
        "name": spec_name,
        "filesystem": filesystem,
        "capabilities": capabilities,
        "network": network,
        "extra_rules": _string_list(spec.get("extra_rules"), "extra_rules", _extra_rule),
    }


def is_bane_spec(data):
    """True when ``data`` uses bane's TOML keys (``Name``, ``Filesystem``, ...) rather than the spec's."""
    return isinstance(data, dict) and bool(data) and any(key[:1].isupper() for key in data if isinstance(key, str))


def load_bane_toml(text):
    """Parse bane's TOML text (needs Python 3.11's ``tomllib``) and return the equivalent spec."""
    try:
        import tomllib
    except ImportError as exc:  # Python < 3.11
        raise SpecError("reading bane TOML needs Python 3.11 or later (tomllib)") from exc
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("not valid TOML: %s" % exc) from exc
    return spec_from_bane(data)


def spec_from_bane(data):
    """Translate bane's keys to a spec. bane names the profile ``docker-<Name>``; so does this."""
    data = _mapping(data, "bane", ("Name", "Filesystem", "Capabilities", "Network"))
    name = data.get("Name")
    if not isinstance(name, str) or not name:
        raise SpecError("bane file has no Name", "Name")
    if not name.startswith(BANE_PREFIX):
        name = BANE_PREFIX + name
    fs_in = _mapping(data.get("Filesystem"), "Filesystem", tuple(BANE_FILESYSTEM))
    caps_in = _mapping(data.get("Capabilities"), "Capabilities", ("Allow", "Deny"))
    net_in = _mapping(data.get("Network"), "Network", ("Raw", "Packet", "Protocols"))
    spec = {
        "name": name,
        "filesystem": {ours: fs_in[theirs] for theirs, ours in BANE_FILESYSTEM.items() if theirs in fs_in},
        "capabilities": {key.lower(): caps_in[key] for key in ("Allow", "Deny") if key in caps_in},
        "network": {key.lower(): net_in[key] for key in ("Raw", "Packet", "Protocols") if key in net_in},
    }
    return spec


def validate_abi(value):
    """The ABI a profile is rendered for: ``None`` (declare none) or one of TEMPLATE_ABIS; raise SpecError otherwise."""
    if value is None or value == "none":
        return None
    if not isinstance(value, str) or value not in TEMPLATE_ABIS:
        raise SpecError(
            "abi %r is not one the profile template is written for (%s, or none)" % (value, ", ".join(TEMPLATE_ABIS)),
            "abi",
        )
    return value


def template_context(spec, abi=None):
    """The variables the profile template renders: the normalised spec, derived network rules and the ABI.

    ``abi`` (``"4.0"``, ``"3.0"`` or None) is the feature ABI the profile declares; None renders a profile without
    an ``abi`` rule, in the ``#include`` syntax parsers older than AppArmor 3 read.
    """
    spec = normalize_spec(spec)
    abi = validate_abi(abi)
    network_rules = []
    for token in spec["network"]["protocols"]:
        if token in NET_PROTOCOLS:
            network_rules.extend(("inet %s" % token, "inet6 %s" % token))
        else:
            network_rules.append(token)
    if network_rules:
        if spec["network"]["raw"] and "raw" not in network_rules:
            network_rules.append("raw")
        if spec["network"]["packet"] and "packet" not in network_rules:
            network_rules.append("packet")
    from ansible_collections.confine.docker.plugins.module_utils._apparmor_template import DOCKER_DEFAULT_DENY

    return {"spec": spec, "name": spec["name"], "network_rules": network_rules, "abi": abi,
            "docker_default_deny": DOCKER_DEFAULT_DENY}


# -------------------------------------------------------------------------------------------------------- ABI facts


def parse_parser_version(text):
    """``apparmor_parser --version`` output -> ``"4.1.0"`` (None when it names no version)."""
    match = re.search(r"AppArmor parser version ([0-9]+(?:\.[0-9]+)*)", text or "")
    return match.group(1) if match else None


def version_tuple(version):
    """``"4.1.0"`` -> ``(4, 1, 0)``; None or text without a leading number -> ``()``."""
    parts = []
    for part in (version or "").split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def declared_abi(text):
    """The ABI that profile or abstraction text declares (``abi <abi/4.0>,`` -> ``"4.0"``), or None."""
    for raw in (text or "").splitlines():
        line = _strip_comment(raw).strip()
        match = re.match(r'^abi\s+[<"](?:[^>"]*/)?([^/>"]+)[>"]\s*,', line)
        if match:
            return match.group(1)
    return None


def choose_abi(parser_version, available, abstractions_abi=None):
    """The ABI a generated profile declares on a host.

    ``parser_version`` is the host's ``apparmor_parser`` version, ``available`` the ABI files in /etc/apparmor.d/abi
    and ``abstractions_abi`` the ABI the host's ``abstractions/base`` declares. Among the ABIs both the host and the
    template know, the abstractions' own wins (a profile that declares another ABI than the abstractions it includes
    draws a parser warning), else the newest. None when the parser predates ``abi`` rules or no ABI fits.
    """
    version = version_tuple(parser_version)
    if not version or version < ABI_MIN_PARSER:
        return None
    usable = sorted((abi for abi in set(available or ()) if abi in TEMPLATE_ABIS), key=version_tuple)
    if not usable:
        return None
    if abstractions_abi in usable:
        return abstractions_abi
    return usable[-1]


def kernel_features(securityfs=SECURITYFS):
    """The AppArmor features the running kernel mediates: ``{name: True}`` for each entry of ``features/``, plus
    ``network.af_unix`` (fine-grained unix socket rules, Linux 6.17 on) when the kernel has it. Empty without
    AppArmor."""
    root = os.path.join(securityfs, "features")
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return {}
    features = {name: True for name in names}
    features["network.af_unix"] = os.path.exists(os.path.join(root, "network", "af_unix"))
    return features


def host_facts(parser_binary=None, run=None, abi_dir=ABI_DIR, base=BASE_ABSTRACTION, securityfs=SECURITYFS,
               param=ENABLED_PARAM):
    """What a host offers generated profiles: AppArmor on or off, parser version, ABIs, the ABI to declare.

    ``parser_binary`` is the path of ``apparmor_parser`` (None when it is not installed); ``run(argv) -> (rc, out,
    err)`` runs it.
    """
    enabled, reason = apparmor_enabled(securityfs, param)
    version = None
    if parser_binary:
        rc, out, err = (run or _subprocess_run)([parser_binary, "--version"])
        version = parse_parser_version("%s\n%s" % (out, err)) if rc == 0 else None
    try:
        abis = sorted((name for name in os.listdir(abi_dir) if ABI_RE.match(name)), key=version_tuple)
    except OSError:
        abis = []
    try:
        with open(base, encoding="utf-8") as handle:
            base_abi = declared_abi(handle.read())
    except (OSError, UnicodeError):
        base_abi = None
    return {
        "enabled": enabled,
        "reason": reason,
        "parser": parser_binary,
        "parser_version": version,
        "abis": abis,
        "abstractions_abi": base_abi,
        "abi": choose_abi(version, abis, base_abi),
        "features": kernel_features(securityfs) if enabled else {},
    }


# ------------------------------------------------------------------------------------------------ profile text edits


_COMMENT_RE = re.compile(r"(^|\s)#(?!include\b).*$")
_FLAGS_RE = re.compile(r"(\s*)(?:flags\s*=\s*)?\(([^()]*)\)")


def _strip_comment(line):
    stripped = line.lstrip()
    if stripped.startswith("#"):
        return ""
    return _COMMENT_RE.sub("", line)


def find_header(text, name):
    """Return ``(line_index, lines)`` for the top-level header ``profile NAME ... {`` (or ``NAME ... {``)."""
    lines = text.splitlines(keepends=True)
    quoted = re.escape(name)
    header_re = re.compile(r'^\s*(?:profile\s+)?(?:"%s"|%s)(?=[\s{(]|$)' % (quoted, quoted))
    depth = 0
    for index, raw in enumerate(lines):
        line = _strip_comment(raw).rstrip()
        if depth == 0 and header_re.match(line):
            if not line.endswith("{"):
                raise ProfileError(
                    "the header of profile %s (line %d) must end with '{' on the same line" % (name, index + 1)
                )
            return index, lines
        if line.endswith("{"):
            depth += 1
        elif line.strip().startswith("}"):
            depth = max(0, depth - 1)
    raise ProfileError("the profile text does not declare a top-level profile named %r" % name)


def profile_mode(text, name):
    """The mode the text's flags give profile ``name``: ``complain``, ``kill``, ... or ``enforce``."""
    index, lines = find_header(text, name)
    match = _FLAGS_RE.search(_strip_comment(lines[index]))
    flags = _split_flags(match.group(2)) if match else []
    for flag in flags:
        if flag in MODE_FLAGS:
            return flag
    return "enforce"


def _split_flags(value):
    return [flag for flag in re.split(r"[\s,]+", value.strip()) if flag]


def set_mode(text, name, mode):
    """Return ``text`` with profile ``name`` in ``mode`` (``enforce`` clears mode flags, ``complain`` sets one).

    Text that already has the mode comes back unchanged, byte for byte.
    """
    if mode not in MODES:
        raise ValueError("mode must be one of %s" % ", ".join(MODES))
    index, lines = find_header(text, name)
    line = lines[index]
    body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
    comment = ""
    code = _strip_comment(body)
    if code != body:
        comment = body[len(code) :]
        body = code
    match = _FLAGS_RE.search(body)
    flags = _split_flags(match.group(2)) if match else []
    kept = [flag for flag in flags if flag not in MODE_FLAGS]
    wanted = kept + (["complain"] if mode == "complain" else [])
    if wanted == flags:
        return text
    if match:
        replacement = "%sflags=(%s)" % (match.group(1), ",".join(wanted)) if wanted else ""
        body = body[: match.start()] + replacement + body[match.end() :]
    else:
        head = body.rstrip()[:-1].rstrip()  # drop the '{'
        body = "%s flags=(%s) {" % (head, ",".join(wanted))
    lines[index] = body + comment + newline
    return "".join(lines)


# ------------------------------------------------------------------------------------------------------ kernel state


def parse_kernel_profiles(text):
    """Parse ``/sys/kernel/security/apparmor/profiles`` (``name (mode)`` per line) into ``{name: mode}``."""
    profiles = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        match = re.match(r"^(.*\S)\s+\(([a-z_]+)\)$", line)
        if match:
            profiles[match.group(1)] = match.group(2)
        else:
            profiles[line] = "unknown"
    return profiles


def apparmor_enabled(securityfs=SECURITYFS, param=ENABLED_PARAM):
    """``(enabled, reason)``: whether the running kernel has AppArmor enabled and, when not, why not."""
    try:
        with open(param, encoding="ascii") as handle:
            value = handle.read().strip()
    except OSError:
        return False, "this kernel has no AppArmor (%s does not exist)" % param
    if value.upper() not in ("Y", "1"):
        return False, "AppArmor is disabled in this kernel (%s is %r)" % (param, value)
    if not os.path.isdir(securityfs):
        return False, "AppArmor's securityfs (%s) is not mounted" % securityfs
    return True, ""


def loaded_profiles(securityfs=SECURITYFS):
    """``{name: mode}`` of every profile the kernel has loaded."""
    try:
        with open(os.path.join(securityfs, "profiles"), encoding="utf-8") as handle:
            return parse_kernel_profiles(handle.read())
    except FileNotFoundError:
        return {}


def unload_by_name(name, securityfs=SECURITYFS):
    """Remove a loaded profile by name (for a profile whose file is gone)."""
    with open(os.path.join(securityfs, ".remove"), "w", encoding="utf-8") as handle:
        handle.write(name)


# --------------------------------------------------------------------------------------------------- apparmor_parser


def _subprocess_run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


_NOISE = (
    "Cache read/write disabled",
    "Warning: unable to find a suitable fs in /proc/mounts",
)


def clean_parser_output(text, replace=None):
    """Drop the parser's harmless cache warnings; optionally rewrite temp paths to the user's path."""
    lines = []
    for line in (text or "").splitlines():
        if not line.strip() or any(line.startswith(noise) for noise in _NOISE):
            continue
        if replace:
            for old, new in replace:
                line = line.replace(old, new)
        lines.append(line)
    return "\n".join(lines)


class Parser:
    """Runs ``apparmor_parser``. ``run(argv) -> (rc, stdout, stderr)`` is injectable (Ansible's run_command)."""

    def __init__(self, binary="apparmor_parser", run=None):
        self.binary = binary
        self.run = run or _subprocess_run

    def _call(self, args, replace=None):
        rc, out, err = self.run([self.binary, *args])
        message = clean_parser_output("\n".join(part for part in (err, out) if part), replace)
        return rc, out, message

    def compile_check(self, text, display=None):
        """Compile ``text`` without a kernel (``-QK``) and list its profile names (``-N``).

        Raises ParserError with the parser's message (temp paths replaced by ``display``) and line.
        Returns the list of profile names the text declares.
        """
        workdir = make_temp_dir("confine-apparmor-")
        try:
            tmp = atomic_write(os.path.join(workdir, os.path.basename(display or "profile") or "profile"), text,
                               makedirs=False)
            replace = [(tmp, display)] if display else None
            rc, _out, message = self._call(["-QK", tmp], replace)
            if rc != 0:
                match = re.search(r"\bline (\d+)", message)
                raise ParserError(
                    message or "apparmor_parser -QK failed with rc=%d" % rc,
                    line=int(match.group(1)) if match else None,
                    rc=rc,
                )
            rc, out, message = self._call(["-N", tmp], replace)
            if rc != 0:
                raise ParserError(message or "apparmor_parser -N failed with rc=%d" % rc, rc=rc)
            return [line.strip() for line in out.splitlines() if line.strip()]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def load(self, path):
        """Load or replace the profiles in ``path`` in the kernel and write the cache (``-r -W``)."""
        rc, _out, message = self._call(["-r", "-W", path])
        if rc != 0:
            match = re.search(r"\bline (\d+)", message)
            raise ParserError(
                message or "apparmor_parser -r failed with rc=%d" % rc,
                line=int(match.group(1)) if match else None,
                rc=rc,
            )

    def remove(self, path):
        """Unload the profiles declared in ``path`` (``-R``)."""
        rc, _out, message = self._call(["-R", path])
        if rc != 0:
            raise ParserError(message or "apparmor_parser -R failed with rc=%d" % rc, rc=rc)
