# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker daemon.json logic: parse, validate, merge, compare.

Plain Python (the standard library and the collection's _io), no Ansible imports; unit-tested directly.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import json
import math
import os
import re
import signal
import subprocess

from ansible_collections.confine.docker.plugins.module_utils._io import read_text

DEFAULT_PATH = "/etc/docker/daemon.json"


class DaemonConfigError(ValueError):
    """daemon.json content or requested settings are not acceptable."""


# Known daemon.json keys and the JSON types Docker accepts for them (dockerd 20.10 .. 27 documentation).
# Values are tuples of Python types after json.loads. Which engine knows which key: KEY_SINCE and KEY_UNTIL.
_STR = (str,)
_BOOL = (bool,)
_INT = (int,)
_LIST = (list,)
_DICT = (dict,)

KNOWN_KEYS = {
    "allow-nondistributable-artifacts": _LIST,
    "api-cors-header": _STR,
    "authorization-plugins": _LIST,
    "bip": _STR,
    "bridge": _STR,
    "builder": _DICT,
    "cgroup-parent": _STR,
    "containerd": _STR,
    "containerd-namespace": _STR,
    "containerd-plugins-namespace": _STR,
    "cdi-spec-dirs": _LIST,
    "cluster-advertise": _STR,
    "cluster-store": _STR,
    "cluster-store-opts": _DICT,
    "cpu-rt-period": _INT,
    "cpu-rt-runtime": _INT,
    "cri-containerd": _BOOL,
    "data-root": _STR,
    "debug": _BOOL,
    "default-address-pools": _LIST,
    "default-cgroupns-mode": _STR,
    "default-gateway": _STR,
    "default-gateway-v6": _STR,
    "default-ipc-mode": _STR,
    "default-network-opts": _DICT,
    "default-runtime": _STR,
    "default-shm-size": _STR,
    "default-ulimits": _DICT,
    "dns": _LIST,
    "dns-opts": _LIST,
    "dns-search": _LIST,
    "exec-opts": _LIST,
    "exec-root": _STR,
    "experimental": _BOOL,
    "features": _DICT,
    "fixed-cidr": _STR,
    "fixed-cidr-v6": _STR,
    "group": _STR,
    "host-gateway-ip": _STR,
    "hosts": _LIST,
    "icc": _BOOL,
    "init": _BOOL,
    "init-path": _STR,
    "insecure-registries": _LIST,
    "ip": _STR,
    "ip-forward": _BOOL,
    "ip-masq": _BOOL,
    "ip6tables": _BOOL,
    "iptables": _BOOL,
    "ipv6": _BOOL,
    "labels": _LIST,
    "live-restore": _BOOL,
    "log-driver": _STR,
    "log-format": _STR,
    "log-level": _STR,
    "log-opts": _DICT,
    "max-concurrent-downloads": _INT,
    "max-concurrent-uploads": _INT,
    "max-download-attempts": _INT,
    "metrics-addr": _STR,
    "mtu": _INT,
    "network-diagnostic-port": _INT,
    "no-new-privileges": _BOOL,
    "node-generic-resources": _LIST,
    "oom-score-adjust": _INT,
    "pidfile": _STR,
    "proxies": _DICT,
    "raw-logs": _BOOL,
    "registry-mirrors": _LIST,
    "rootless": _BOOL,
    "runtimes": _DICT,
    "seccomp-profile": _STR,
    "selinux-enabled": _BOOL,
    "shutdown-timeout": _INT,
    "storage-driver": _STR,
    "storage-opts": _LIST,
    "swarm-default-advertise-addr": _STR,
    "tls": _BOOL,
    "tlscacert": _STR,
    "tlscert": _STR,
    "tlskey": _STR,
    "tlsverify": _BOOL,
    "userland-proxy": _BOOL,
    "userland-proxy-path": _STR,
    "userns-remap": _STR,
}

# The engines the module knows, as (major, minor): Debian 12's docker.io is 20.10.24, Debian 13's 26.1.5. Every key
# of KNOWN_KEYS is known to both except these; which keys each of the two really takes was measured against their
# dockerd (tests/integration/probe/dockerd_config.py, tests/integration/test_daemon_engines_vm.py), the releases in
# between come from Docker's release notes.
# Keys dockerd knows from a release on: 20.10 refuses to start with them ("the following directives don't match any
# configuration option"), except default-network-opts, which it silently ignores.
KEY_SINCE = {
    "proxies": (23, 0),
    "default-network-opts": (24, 0),
    "cdi-spec-dirs": (25, 0),
    "log-format": (25, 0),
}
# Keys dockerd no longer knows from a release on (26.1 refuses to start with them).
KEY_UNTIL = {
    "cluster-advertise": (23, 0),
    "cluster-store": (23, 0),
    "cluster-store-opts": (23, 0),
    "oom-score-adjust": (25, 0),
}
# dockerd --validate (and the builtin/unconfined seccomp-profile words) arrived with Docker 23.0.
VALIDATE_SINCE = (23, 0)

# Keys dockerd applies on SIGHUP without a restart (moby daemon/reload.go, reload_unix.go and the authorization
# plugins in cmd/dockerd). Anything else needs a restart.
RELOADABLE_KEYS = frozenset(
    {
        "allow-nondistributable-artifacts",
        "authorization-plugins",
        "debug",
        "default-cgroupns-mode",
        "default-ipc-mode",
        "default-runtime",
        "default-shm-size",
        "features",
        "insecure-registries",
        "labels",
        "live-restore",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "network-diagnostic-port",
        "registry-mirrors",
        "runtimes",
        "shutdown-timeout",
    }
)

# A reload changes only the keys present in the file: a reloadable key that is removed keeps its old value in the
# running daemon, except these, which a reload resets to their defaults.
RESET_ON_RELOAD_KEYS = frozenset(
    {
        "features",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "network-diagnostic-port",
    }
)

# Keys whose value is a list of strings, and objects whose values are strings (Go map[string]string).
_STRING_LISTS = (
    "allow-nondistributable-artifacts",
    "authorization-plugins",
    "cdi-spec-dirs",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "hosts",
    "insecure-registries",
    "labels",
    "registry-mirrors",
    "storage-opts",
)
_STRING_MAPS = ("log-opts", "cluster-store-opts")

# Special seccomp-profile values; Docker 20.10 and older read any value as a file path (measured: "open builtin: no
# such file or directory"), Docker 23 and later accept these two words.
SECCOMP_KEYWORDS = ("builtin", "unconfined")

# Both engines take logrus's levels; 20.10 also takes "warning", which 26.1 refuses ("invalid logging level"). Where
# the release in between changed that is not known, so "warning" is refused only from 26.0 on (dockerd --validate
# judges it on 23 to 25).
LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "panic")
LOG_LEVEL_WARNING_UNTIL = (26, 0)
LOG_FORMATS = ("text", "json")
CGROUPNS_MODES = ("host", "private")
IPC_MODES = ("shareable", "private")


def parse_dockerd_version(text):
    """``dockerd --version`` output (``Docker version 26.1.5+dfsg1, build 411e817``) -> ``(26, 1, 5)``, or None."""
    match = re.search(r"\bversion v?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", text or "")
    if not match:
        return None
    return tuple(int(part) for part in match.groups(default="0"))


def version_text(version):
    return ".".join(str(part) for part in version) if version else "unknown"


def supports_validate(version):
    """Whether a dockerd of ``version`` has ``--validate`` (None: not known, so no)."""
    return version is not None and tuple(version[:2]) >= VALIDATE_SINCE


def key_unsupported(key, version):
    """Why a dockerd of ``version`` cannot take ``key`` (a message), or None when it can or the version is unknown."""
    if version is None:
        return None
    release = tuple(version[:2])
    since = KEY_SINCE.get(key)
    if since is not None and release < since:
        effect = "ignores it" if key == "default-network-opts" else "would not start with it"
        return "%r needs Docker %d.%d or later; this dockerd (%s) %s" % (
            key, since[0], since[1], version_text(version), effect)
    until = KEY_UNTIL.get(key)
    if until is not None and release >= until:
        return "%r was removed in Docker %d.%d; this dockerd (%s) would not start with it" % (
            key, until[0], until[1], version_text(version))
    return None


def engine_keys(version):
    """The keys of KNOWN_KEYS a dockerd of ``version`` takes (every one when the version is not known)."""
    return frozenset(key for key in KNOWN_KEYS if key_unsupported(key, version) is None)


def parse_text(text):
    """Parse daemon.json text into a dict. Empty or whitespace-only text is an empty config.

    Raises DaemonConfigError with line and column when the JSON does not parse or is not an object, and when an
    object names a key twice (rewriting the file would silently drop one of the values).
    """
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _NotJson as exc:
        raise DaemonConfigError(
            "daemon.json holds %s, which is not JSON (dockerd refuses it); fix the file by hand and run again" %
            exc.args[0]) from None
    except RecursionError:
        raise DaemonConfigError(
            "daemon.json is nested too deeply to be a daemon configuration (more than Python's JSON decoder takes); "
            "fix the file by hand and run again") from None
    except _DuplicateKey as exc:
        raise DaemonConfigError(
            "daemon.json names the key %r more than once; keep one of the values by hand and run again "
            "(the file is not rewritten while it is ambiguous)" % exc.args[0]
        ) from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        where = " at line %s column %s" % (line, col) if line is not None else ""
        raise DaemonConfigError(
            "daemon.json is not valid JSON%s: %s. Fix the file by hand (or restore a backup) and run again; "
            "it is never overwritten while it does not parse" % (where, getattr(exc, "msg", str(exc)))
        ) from exc
    if not isinstance(data, dict):
        raise DaemonConfigError("daemon.json must hold a JSON object at the top level, found %s" % type(data).__name__)
    check_json_value(data, "daemon.json")
    return data


class _DuplicateKey(Exception):
    pass


class _NotJson(Exception):
    pass


def _no_constant(name):
    raise _NotJson(name)


# No daemon.json setting nests deeper than four levels (default-network-opts.bridge.<option>, runtimes.<name>.options
# .<key>); 32 leaves room for what a runtime's options may hold and stops what a recursive merge could not handle.
DEPTH_MAX = 32
# Go decodes JSON integers into int64 (or int, 64-bit here): larger ones do not load.
INT64 = (-(1 << 63), (1 << 63) - 1)


def check_json_value(value, where):
    """Raise DaemonConfigError unless ``value`` is plain JSON that dockerd can load: objects with string keys, lists,
    strings, booleans, null, finite numbers, integers within int64, nested at most DEPTH_MAX levels. Iterative, so
    a hostile nesting depth cannot exhaust the stack."""
    stack = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > DEPTH_MAX:
            raise DaemonConfigError(
                "%s is nested more than %d levels deep; no daemon.json setting is" % (path, DEPTH_MAX))
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise DaemonConfigError("%s has the key %r, which is not a string" % (path, key))
                stack.append((item, "%s.%s" % (path, key), depth + 1))
        elif isinstance(node, (list, tuple)):
            stack.extend((item, "%s[%d]" % (path, index), depth + 1) for index, item in enumerate(node))
        elif isinstance(node, bool) or node is None or isinstance(node, str):
            continue
        elif isinstance(node, int):
            if not INT64[0] <= node <= INT64[1]:
                raise DaemonConfigError("%s is %d, outside the 64-bit integers dockerd reads" % (path, node))
        elif isinstance(node, float):
            if math.isnan(node) or math.isinf(node):
                raise DaemonConfigError("%s is %r, which JSON cannot hold (dockerd refuses it)" % (path, node))
        else:
            raise DaemonConfigError("%s is a %s, which JSON cannot hold" % (path, type(node).__name__))


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _type_name(types):
    names = {str: "a string", bool: "a boolean", int: "an integer", list: "a list", dict: "an object"}
    return " or ".join(names[t] for t in types)


def _check_type(key, value, types):
    # bool is a subclass of int: an integer key must not accept true/false.
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def validate_settings(config, allow_unknown=False, seccomp_check=None, engine=None):
    """Check keys, types and values of a whole daemon.json dict. Returns a list of warnings; raises on errors.

    ``seccomp_check(path)`` is called for a ``seccomp-profile`` value that names a file. ``engine`` is the installed
    dockerd's version (``(26, 1, 5)``); keys and values that engine does not take are errors. With None (no dockerd
    to ask) every known key and value is accepted.
    """
    seccomp_keywords = engine is None or supports_validate(engine)
    errors = []
    warnings = []
    for key in sorted(config):
        value = config[key]
        types = KNOWN_KEYS.get(key)
        if types is None:
            if allow_unknown:
                warnings.append("unknown daemon.json key %r kept as given" % key)
            else:
                errors.append("unknown daemon.json key %r (set allow_unknown=true to accept it)" % key)
            continue
        unsupported = key_unsupported(key, engine)
        if unsupported:
            errors.append(unsupported)
            continue
        if not _check_type(key, value, types):
            errors.append("%r must be %s, got %s" % (key, _type_name(types), json.dumps(value)))
            continue
        errors.extend(_check_value(key, value, engine))
    errors.extend(_check_combinations(config))
    profile = config.get("seccomp-profile")
    if profile in SECCOMP_KEYWORDS and not seccomp_keywords:
        errors.append(
            "'seccomp-profile' %r needs Docker 23 or later; this dockerd reads it as a file path and would not "
            "start (leave the key out for Docker's default profile)" % profile
        )
    if errors:
        raise DaemonConfigError("invalid daemon.json settings: " + "; ".join(errors))
    if profile and profile not in SECCOMP_KEYWORDS and seccomp_check is not None:
        seccomp_check(profile)
    return warnings


def _log_levels(engine):
    if engine is None or tuple(engine[:2]) < LOG_LEVEL_WARNING_UNTIL:
        return (*LOG_LEVELS, "warning")
    return LOG_LEVELS


def _check_value(key, value, engine=None):
    errors = []
    if key == "log-level" and value not in _log_levels(engine):
        errors.append("'log-level' must be one of %s%s, got %r" % (
            ", ".join(_log_levels(engine)), " for dockerd %s" % version_text(engine) if engine else "", value))
    elif key == "log-format" and value not in LOG_FORMATS:
        errors.append("'log-format' must be one of %s, got %r" % (", ".join(LOG_FORMATS), value))
    elif key == "default-cgroupns-mode" and value not in CGROUPNS_MODES:
        errors.append("'default-cgroupns-mode' must be one of %s, got %r" % (", ".join(CGROUPNS_MODES), value))
    elif key == "default-ipc-mode" and value not in IPC_MODES:
        errors.append("'default-ipc-mode' must be one of %s, got %r" % (", ".join(IPC_MODES), value))
    elif key == "userland-proxy-path" and not value.startswith("/"):
        errors.append("'userland-proxy-path' must be an absolute path, got %r" % value)
    elif key == "default-ulimits":
        errors.extend(_check_ulimits(value))
    elif key in _STRING_LISTS:
        bad = [item for item in value if not isinstance(item, str)]
        if bad:
            errors.append("%r must be a list of strings, got %s" % (key, json.dumps(bad[0])))
    elif key in _STRING_MAPS:
        bad = sorted(name for name, item in value.items() if not isinstance(item, str))
        if bad:
            errors.append("%r values must be strings (quote numbers: \"3\"), %r is not" % (key, bad[0]))
    elif key == "userns-remap" and not value.strip():
        errors.append("'userns-remap' must not be empty (leave it out to disable user namespaces)")
    elif key in ("max-concurrent-downloads", "max-concurrent-uploads", "shutdown-timeout") and value < 0:
        errors.append("%r must not be negative" % key)
    elif key == "seccomp-profile" and not value.strip():
        errors.append("'seccomp-profile' must not be empty (leave it out for Docker's default profile)")
    elif key in _NESTED_CHECKS:
        errors.extend(_NESTED_CHECKS[key](value))
    elif key in INT_RANGES:
        low, high = INT_RANGES[key]
        if not low <= value <= high:
            errors.append("%r must be between %d and %d, got %d" % (key, low, high, value))
    return errors


# Integer settings with the range dockerd accepts (moby daemon/config Validate and the kernel's limits).
INT_RANGES = {
    "mtu": (0, 65535),
    "network-diagnostic-port": (0, 65535),
    "max-download-attempts": (1, 1 << 31),
    "oom-score-adjust": (-1000, 1000),
}


def _fields(value, where, fields, errors, strict=True):
    """Check an object's known fields by type. With ``strict`` an unknown field is an error (dockerd would ignore a
    misspelt one silently); otherwise it is left to dockerd (objects that grow with each release)."""
    if not isinstance(value, dict):
        errors.append("%r must be an object, got %s" % (where, json.dumps(value)))
        return False
    for name in sorted(value):
        types = fields.get(name)
        if types is None:
            if strict:
                errors.append("%r has no field %r (known: %s)" % (where, name, ", ".join(sorted(fields))))
        elif not _check_type(name, value[name], types):
            errors.append("'%s.%s' must be %s, got %s" % (where, name, _type_name(types), json.dumps(value[name])))
    return True


def _check_runtimes(value):
    errors = []
    for name in sorted(value):
        where = "runtimes.%s" % name
        if name in ("runc", "io.containerd.runc.v2"):
            errors.append("%r: the runtime name %r is reserved for Docker's own runc" % (where, name))
            continue
        runtime = value[name]
        if not _fields(runtime, where, {"path": _STR, "runtimeArgs": _LIST, "runtimeType": _STR, "options": _DICT},
                       errors):
            continue
        args = runtime.get("runtimeArgs", [])
        if isinstance(args, list) and any(not isinstance(arg, str) for arg in args):
            errors.append("'%s.runtimeArgs' must be a list of strings" % where)
        if not runtime.get("path") and not runtime.get("runtimeType"):
            errors.append("%r needs a 'path' (or a 'runtimeType')" % where)
        if runtime.get("options") and not runtime.get("runtimeType"):
            errors.append("'%s.options' applies only with a 'runtimeType'" % where)
    return errors


def _check_address_pools(value):
    errors = []
    for index, pool in enumerate(value):
        where = "default-address-pools[%d]" % index
        if not _fields(pool, where, {"base": _STR, "size": _INT}, errors):
            continue
        if "base" not in pool or "size" not in pool:
            errors.append("%r needs both 'base' (a CIDR) and 'size' (a prefix length)" % where)
            continue
        if not isinstance(pool["base"], str) or not _check_type("size", pool["size"], _INT):
            continue
        try:
            network = ipaddress.ip_network(pool["base"], strict=False)
        except ValueError:
            errors.append("'%s.base' must be a CIDR such as 172.80.0.0/16, got %r" % (where, pool["base"]))
            continue
        if not network.prefixlen <= pool["size"] <= network.max_prefixlen:
            errors.append("'%s.size' must be between the base's prefix length %d and %d, got %d" % (
                where, network.prefixlen, network.max_prefixlen, pool["size"]))
    return errors


def _check_features(value):
    bad = sorted(name for name, item in value.items() if not isinstance(item, bool))
    return ["'features.%s' must be true or false, got %s" % (name, json.dumps(value[name])) for name in bad]


def _check_proxies(value):
    errors = []
    _fields(value, "proxies", {"http-proxy": _STR, "https-proxy": _STR, "no-proxy": _STR}, errors)
    return errors


def _check_network_opts(value):
    errors = []
    for driver in sorted(value):
        options = value[driver]
        if not isinstance(options, dict):
            errors.append("'default-network-opts.%s' must be an object of options" % driver)
            continue
        bad = sorted(name for name, item in options.items() if not isinstance(item, str))
        errors.extend("'default-network-opts.%s.%s' must be a string (quote numbers: \"1500\")" % (driver, name)
                      for name in bad)
    return errors


def _check_builder(value):
    errors = []
    if not _fields(value, "builder", {"gc": _DICT, "entitlements": _DICT, "history": _DICT}, errors, strict=False):
        return errors
    gc = value.get("gc")
    if isinstance(gc, dict):
        _fields(gc, "builder.gc", {"enabled": _BOOL, "defaultKeepStorage": _STR, "policy": _LIST}, errors,
                strict=False)
    return errors


_NESTED_CHECKS = {
    "runtimes": _check_runtimes,
    "default-address-pools": _check_address_pools,
    "features": _check_features,
    "proxies": _check_proxies,
    "default-network-opts": _check_network_opts,
    "builder": _check_builder,
}


def _check_combinations(config):
    """Settings dockerd refuses together (moby daemon/daemon_unix.go verifyDaemonSettings)."""
    errors = []
    if config.get("iptables") is False and config.get("icc") is False:
        errors.append("'icc': false needs iptables: dockerd refuses it together with 'iptables': false")
    if config.get("bridge") and config.get("bip"):
        errors.append("'bridge' and 'bip' are mutually exclusive: set only one")
    return errors


def _check_ulimits(value):
    errors = []
    for name, limit in value.items():
        if not isinstance(limit, dict):
            errors.append("'default-ulimits.%s' must be an object with Name, Hard and Soft" % name)
            continue
        for field in ("Hard", "Soft"):
            if field in limit and (isinstance(limit[field], bool) or not isinstance(limit[field], int)):
                errors.append("'default-ulimits.%s.%s' must be an integer" % (name, field))
        if "Name" in limit and limit["Name"] != name:
            errors.append("'default-ulimits.%s.Name' must be %r" % (name, name))
    return errors


# Docker's default profile is 20 kB; a file a thousand times larger is not a seccomp profile.
SECCOMP_MAX = 16 << 20


def check_seccomp_file(path, parse_profile=None):
    """Check that ``path`` exists and holds a valid Docker seccomp profile.

    ``parse_profile`` defaults to the collection's seccomp validator.
    """
    if not os.path.isabs(path):
        raise DaemonConfigError("'seccomp-profile' must be an absolute path, got %r" % path)
    try:
        text = read_text(path, max_bytes=SECCOMP_MAX)
    except OSError as exc:
        raise DaemonConfigError("'seccomp-profile' %s cannot be read: %s" % (path, exc.strerror or exc)) from exc
    if text is None:
        raise DaemonConfigError("'seccomp-profile' %s does not exist; dockerd would not start" % path)
    if parse_profile is None:
        parse_profile = _default_parse_profile()
    try:
        parse_profile(text)
    except ValueError as exc:
        raise DaemonConfigError("'seccomp-profile' %s is not a valid seccomp profile: %s" % (path, exc)) from exc


def _default_parse_profile():
    try:
        from ansible_collections.confine.docker.plugins.module_utils._seccomp import parse_profile
    except ImportError:  # pragma: no cover - the seccomp validator ships with the collection
        return _minimal_parse_profile
    return parse_profile


def _minimal_parse_profile(text):
    data = json.loads(text)
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise ValueError("a seccomp profile is a JSON object with a defaultAction")
    return data


def deep_merge(base, overlay):
    """Return ``base`` with ``overlay`` merged in: objects merge recursively, everything else is replaced."""
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def desired_config(current, settings=None, remove=None):
    """Compute the new daemon.json dict from the current one, ``settings`` to merge and keys to ``remove``.

    A removal key may name a nested key with dots only when the top-level key does not itself contain the dotted
    name (``log-opts.max-size``).
    """
    result = deep_merge(current, settings or {})
    for key in remove or ():
        if key in result:
            del result[key]
            continue
        parts = key.split(".")
        node = result
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return result


def render(config):
    """Canonical daemon.json text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(config, indent=2, sort_keys=True, allow_nan=False) + "\n"


def changed_keys(before, after):
    """Top-level keys whose value differs (added, removed or changed), sorted."""
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k, _MISSING) != after.get(k, _MISSING))


_MISSING = object()


def restart_plan(keys, after=None):
    """Return (needs_restart, reload_keys) for a list of changed top-level keys.

    ``after`` is the new configuration: a reloadable key missing from it was removed, and a reload would leave the
    old value in force (unless the key is one a reload resets), so that removal needs a restart.
    """
    after = {} if after is None else after
    reload_keys = sorted(k for k in keys if k in RELOADABLE_KEYS)
    needs_restart = any(
        k not in RELOADABLE_KEYS or (k not in after and k not in RESET_ON_RELOAD_KEYS) for k in keys
    )
    return needs_restart, reload_keys


# How long dockerd may take: --version answers at once, --validate loads the configuration and its plugins' specs.
VERSION_TIMEOUT = 30
VALIDATE_TIMEOUT = 60


def run_bounded(argv, timeout, **kwargs):
    """subprocess.run in a session of its own: on timeout the whole process group is killed (a dockerd that hangs
    may have started children of its own), then subprocess.TimeoutExpired is raised as usual."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def dockerd_version(dockerd="dockerd", runner=run_bounded):
    """The installed dockerd's version from ``dockerd --version`` (``(26, 1, 5)``), or None when it cannot be run."""
    try:
        proc = runner([dockerd, "--version"], timeout=VERSION_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return parse_dockerd_version((proc.stdout or "") + (proc.stderr or ""))


def dockerd_validate(path, dockerd="dockerd", runner=run_bounded, timeout=VALIDATE_TIMEOUT):
    """Run ``dockerd --validate --config-file PATH``; raise DaemonConfigError with its output on failure, when it
    cannot be run, or when it does not answer within ``timeout`` seconds (it and its children are killed)."""
    argv = [dockerd, "--validate", "--config-file", path]
    try:
        proc = runner(argv, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DaemonConfigError(
            "dockerd --validate did not answer within %d s and was stopped; the configuration is not written "
            "(is %s the engine's dockerd?)" % (timeout, dockerd)) from None
    except OSError as exc:
        raise DaemonConfigError("dockerd --validate could not be run (%s): %s" % (dockerd, exc.strerror or exc)) \
            from None
    if proc.returncode != 0:
        out = ((proc.stderr or "") + (proc.stdout or "")).strip()
        raise DaemonConfigError("dockerd --validate refused the configuration: %s" % out)
