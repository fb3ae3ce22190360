# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker daemon.json logic: parse, validate, merge, compare.

Plain Python, stdlib only, no Ansible imports; unit-tested directly.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess

DEFAULT_PATH = "/etc/docker/daemon.json"


class DaemonConfigError(ValueError):
    """daemon.json content or requested settings are not acceptable."""


# Known daemon.json keys and the JSON types Docker accepts for them (dockerd 20.10 .. 27 documentation).
# Values are tuples of Python types after json.loads.
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
_STRING_MAPS = ("log-opts",)

# Special seccomp-profile values; Docker 20.10 and older read any value as a file path (measured: "open builtin: no
# such file or directory"), Docker 23 and later accept these two words.
SECCOMP_KEYWORDS = ("builtin", "unconfined")

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


def parse_text(text):
    """Parse daemon.json text into a dict. Empty or whitespace-only text is an empty config.

    Raises DaemonConfigError with line and column when the JSON does not parse or is not an object, and when an
    object names a key twice (rewriting the file would silently drop one of the values).
    """
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
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
    return data


class _DuplicateKey(Exception):
    pass


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


def validate_settings(config, allow_unknown=False, seccomp_check=None, seccomp_keywords=True):
    """Check keys and types of a whole daemon.json dict. Returns a list of warnings; raises on errors.

    ``seccomp_check(path)`` is called for a ``seccomp-profile`` value that names a file. ``seccomp_keywords`` says
    whether the installed dockerd understands ``builtin`` and ``unconfined`` (Docker 23 and later).
    """
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
        if not _check_type(key, value, types):
            errors.append("%r must be %s, got %s" % (key, _type_name(types), json.dumps(value)))
            continue
        errors.extend(_check_value(key, value))
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


def _check_value(key, value):
    errors = []
    if key == "log-level" and value not in LOG_LEVELS:
        errors.append("'log-level' must be one of %s, got %r" % (", ".join(LOG_LEVELS), value))
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
    return errors


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


def check_seccomp_file(path, parse_profile=None):
    """Check that ``path`` exists and holds a valid Docker seccomp profile.

    ``parse_profile`` defaults to the collection's seccomp validator.
    """
    if not os.path.isabs(path):
        raise DaemonConfigError("'seccomp-profile' must be an absolute path, got %r" % path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise DaemonConfigError("'seccomp-profile' %s cannot be read: %s" % (path, exc.strerror or exc)) from exc
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
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


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


def dockerd_help(dockerd="dockerd", runner=subprocess.run):
    """The text of ``dockerd --help``, or None when dockerd cannot be run."""
    try:
        proc = runner([dockerd, "--help"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout or "") + (proc.stderr or "")


def dockerd_supports_validate(dockerd="dockerd", runner=subprocess.run):
    """True when ``dockerd --help`` lists ``--validate`` (Docker 23+)."""
    return "--validate" in (dockerd_help(dockerd, runner) or "")


def dockerd_validate(path, dockerd="dockerd", runner=subprocess.run):
    """Run ``dockerd --validate --config-file PATH``; raise DaemonConfigError with its output on failure."""
    proc = runner(
        [dockerd, "--validate", "--config-file", path], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        out = ((proc.stderr or "") + (proc.stdout or "")).strip()
        raise DaemonConfigError("dockerd --validate refused the configuration: %s" % out)
