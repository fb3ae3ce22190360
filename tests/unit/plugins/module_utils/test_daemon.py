"""Unit tests for the daemon.json logic in _daemon."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _daemon
from ansible_collections.confine.docker.plugins.module_utils._daemon import DaemonConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {}),
        ("", {}),
        ("  \n", {}),
        ('{"icc": false}', {"icc": False}),
        ('{"log-opts": {"max-size": "10m"}}', {"log-opts": {"max-size": "10m"}}),
    ],
)
def test_parse_text(text, expected):
    assert _daemon.parse_text(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"icc": false,\n  "debug": tru}', "line 2 column"),
        ('{"icc": false', "line 1 column 14"),
        ("[1, 2]", "JSON object"),
        ('"x"', "JSON object"),
    ],
)
def test_parse_text_errors(text, fragment):
    with pytest.raises(DaemonConfigError, match=fragment):
        _daemon.parse_text(text)


@pytest.mark.parametrize(
    "text",
    ['{"debug": true, "debug": false}', '{"log-opts": {"max-size": "1m", "max-size": "2m"}}'],
)
def test_parse_text_refuses_duplicate_keys(text):
    with pytest.raises(DaemonConfigError, match="more than once"):
        _daemon.parse_text(text)


def test_parse_error_says_how_to_fix():
    with pytest.raises(DaemonConfigError, match="never overwritten"):
        _daemon.parse_text("{")


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"no-new-privileges": True, "live-restore": True, "icc": False, "userland-proxy": False, "log-level": "info"},
        {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}},
        {"userns-remap": "default", "selinux-enabled": False, "seccomp-profile": "unconfined"},
        {"labels": ["a=b"], "max-concurrent-downloads": 3, "log-opts": {"max-size": "10m"}},
    ],
)
def test_validate_accepts(config):
    assert _daemon.validate_settings(config) == []


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"no-new-privileges": "yes"}, "'no-new-privileges' must be a boolean"),
        ({"icc": 0}, "'icc' must be a boolean"),
        ({"max-concurrent-downloads": True}, "must be an integer"),
        ({"log-level": "verbose"}, "'log-level' must be one of"),
        ({"default-ulimits": {"nofile": {"Name": "nofile", "Hard": "x"}}}, "default-ulimits.nofile.Hard"),
        ({"default-ulimits": {"nofile": {"Name": "nproc"}}}, "default-ulimits.nofile.Name"),
        ({"default-ulimits": {"nofile": 5}}, "must be an object"),
        ({"labels": [1]}, "list of strings"),
        ({"userns-remap": " "}, "must not be empty"),
        ({"shutdown-timeout": -1}, "must not be negative"),
        ({"no-such-key": 1}, "unknown daemon.json key 'no-such-key'"),
        ({"log-opts": {"max-file": 3}}, "'log-opts' values must be strings"),
        ({"hosts": ["unix:///run/d.sock", 2375]}, "'hosts' must be a list of strings"),
        ({"icc": False, "iptables": False}, "'icc': false needs iptables"),
        ({"bridge": "br0", "bip": "10.1.0.1/24"}, "mutually exclusive"),
        ({"seccomp-profile": ""}, "must not be empty"),
        ({"network-diagnostic-port": "2000"}, "must be an integer"),
    ],
)
def test_validate_rejects(config, fragment):
    with pytest.raises(DaemonConfigError, match=fragment):
        _daemon.validate_settings(config)


def test_unknown_key_allowed_warns():
    warnings = _daemon.validate_settings({"shiny-new": 1}, allow_unknown=True)
    assert warnings == ["unknown daemon.json key 'shiny-new' kept as given"]


DEBIAN_12 = (20, 10, 24)
DEBIAN_13 = (26, 1, 5)


@pytest.mark.parametrize("word", ["builtin", "unconfined"])
def test_seccomp_keywords_refused_on_old_dockerd(word):
    with pytest.raises(DaemonConfigError, match="needs Docker 23 or later"):
        _daemon.validate_settings({"seccomp-profile": word}, engine=DEBIAN_12)
    assert _daemon.validate_settings({"seccomp-profile": word}, engine=DEBIAN_13) == []
    assert _daemon.validate_settings({"seccomp-profile": word}, engine=None) == []


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"log-format": "json"}, "'log-format' needs Docker 25.0 or later; this dockerd (20.10.24) would not start"),
        ({"cdi-spec-dirs": ["/etc/cdi"]}, "'cdi-spec-dirs' needs Docker 25.0 or later"),
        ({"proxies": {"http-proxy": "http://proxy:3128"}}, "'proxies' needs Docker 23.0 or later"),
        ({"default-network-opts": {"bridge": {"com.docker.network.driver.mtu": "1400"}}},
         "'default-network-opts' needs Docker 24.0 or later; this dockerd (20.10.24) ignores it"),
    ],
)
def test_keys_docker_20_10_does_not_take(config, fragment):
    with pytest.raises(DaemonConfigError, match=re.escape(fragment)):
        _daemon.validate_settings(config, engine=DEBIAN_12)
    assert _daemon.validate_settings(config, engine=DEBIAN_13) == []


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"oom-score-adjust": -500}, "'oom-score-adjust' was removed in Docker 25.0; this dockerd (26.1.5)"),
        ({"cluster-store": "consul://10.0.0.1:8500"}, "'cluster-store' was removed in Docker 23.0"),
        ({"cluster-advertise": "eth0:2376"}, "'cluster-advertise' was removed in Docker 23.0"),
        ({"log-level": "warning"}, "'log-level' must be one of trace, debug, info, warn, error, fatal, panic for "
                                   "dockerd 26.1.5, got 'warning'"),
    ],
)
def test_settings_docker_26_1_does_not_take(config, fragment):
    with pytest.raises(DaemonConfigError, match=re.escape(fragment)):
        _daemon.validate_settings(config, engine=DEBIAN_13)
    assert _daemon.validate_settings(config, engine=DEBIAN_12) == []


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"log-format": "xml"}, "'log-format' must be one of text, json"),
        ({"default-cgroupns-mode": "shared"}, "'default-cgroupns-mode' must be one of host, private"),
        ({"default-ipc-mode": "host"}, "'default-ipc-mode' must be one of shareable, private"),
        ({"userland-proxy-path": "docker-proxy"}, "'userland-proxy-path' must be an absolute path"),
    ],
)
def test_values_both_engines_refuse(config, fragment):
    for engine in (DEBIAN_13, None):
        with pytest.raises(DaemonConfigError, match=re.escape(fragment)):
            _daemon.validate_settings(config, engine=engine)


def test_engine_keys():
    assert _daemon.engine_keys(None) == frozenset(_daemon.KNOWN_KEYS)
    old, new = _daemon.engine_keys(DEBIAN_12), _daemon.engine_keys(DEBIAN_13)
    assert sorted(set(_daemon.KNOWN_KEYS) - old) == ["cdi-spec-dirs", "default-network-opts", "log-format", "proxies"]
    assert sorted(set(_daemon.KNOWN_KEYS) - new) == [
        "cluster-advertise", "cluster-store", "cluster-store-opts", "oom-score-adjust"]


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Docker version 26.1.5+dfsg1, build 411e817\n", (26, 1, 5)),
        ("Docker version 20.10.24+dfsg1, build 5d6db84\n", (20, 10, 24)),
        ("Docker version 28.0, build x\n", (28, 0, 0)),
        ("dockerd: not found\n", None),
    ],
)
def test_parse_dockerd_version(text, version):
    assert _daemon.parse_dockerd_version(text) == version


def test_validate_calls_seccomp_check_only_for_paths():
    seen = []
    _daemon.validate_settings({"seccomp-profile": "/x.json"}, seccomp_check=seen.append)
    _daemon.validate_settings({"seccomp-profile": "unconfined"}, seccomp_check=seen.append)
    _daemon.validate_settings({"seccomp-profile": "builtin"}, seccomp_check=seen.append)
    assert seen == ["/x.json"]


def test_check_seccomp_file(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}))
    calls = []
    _daemon.check_seccomp_file(str(good), parse_profile=calls.append)
    assert calls == [good.read_text()]


def test_check_seccomp_file_missing(tmp_path):
    with pytest.raises(DaemonConfigError, match="does not exist"):
        _daemon.check_seccomp_file(str(tmp_path / "nope.json"), parse_profile=lambda text: None)


def test_check_seccomp_file_relative():
    with pytest.raises(DaemonConfigError, match="absolute path"):
        _daemon.check_seccomp_file("profile.json", parse_profile=lambda text: None)


def test_check_seccomp_file_invalid(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")

    def refuse(text):
        raise ValueError("defaultAction missing")

    with pytest.raises(DaemonConfigError, match="not a valid seccomp profile: defaultAction missing"):
        _daemon.check_seccomp_file(str(bad), parse_profile=refuse)


def test_check_seccomp_file_default_validator(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"syscalls": "nope"}')
    with pytest.raises(DaemonConfigError, match="not a valid seccomp profile"):
        _daemon.check_seccomp_file(str(bad))


@pytest.mark.parametrize(
    ("current", "settings", "remove", "expected"),
    [
        ({}, {"icc": False}, [], {"icc": False}),
        ({"debug": True}, {"icc": False}, [], {"debug": True, "icc": False}),
        ({"icc": True}, {"icc": False}, [], {"icc": False}),
        (
            {"log-opts": {"max-size": "10m", "max-file": "3"}},
            {"log-opts": {"max-size": "20m"}},
            [],
            {"log-opts": {"max-size": "20m", "max-file": "3"}},
        ),
        ({"labels": ["a"]}, {"labels": ["b"]}, [], {"labels": ["b"]}),
        ({"icc": False, "debug": True}, {}, ["debug"], {"icc": False}),
        ({"icc": False}, {}, ["absent-key"], {"icc": False}),
        (
            {"log-opts": {"max-size": "10m", "max-file": "3"}},
            {},
            ["log-opts.max-file"],
            {"log-opts": {"max-size": "10m"}},
        ),
        ({"debug": True}, {"debug": False}, ["debug"], {}),
    ],
)
def test_desired_config(current, settings, remove, expected):
    before = json.loads(json.dumps(current))
    assert _daemon.desired_config(current, settings, remove) == expected
    assert current == before  # input untouched


def test_render_is_canonical():
    text = _daemon.render({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
    assert _daemon.render(json.loads(text)) == text


@pytest.mark.parametrize(
    ("before", "after", "keys"),
    [
        ({}, {}, []),
        ({"icc": True}, {"icc": True}, []),
        ({"icc": True}, {"icc": False}, ["icc"]),
        ({"debug": True}, {}, ["debug"]),
        ({}, {"debug": False}, ["debug"]),
        ({"debug": False, "a": 1}, {"debug": False, "a": 2, "b": 3}, ["a", "b"]),
    ],
)
def test_changed_keys(before, after, keys):
    assert _daemon.changed_keys(before, after) == keys


@pytest.mark.parametrize(
    ("keys", "after", "needs_restart", "reload_keys"),
    [
        ([], {}, False, []),
        (["live-restore", "debug"], {"live-restore": True, "debug": False}, False, ["debug", "live-restore"]),
        (["no-new-privileges"], {"no-new-privileges": True}, True, []),
        (["icc", "live-restore"], {"icc": False, "live-restore": True}, True, ["live-restore"]),
        (["default-shm-size"], {"default-shm-size": "128M"}, False, ["default-shm-size"]),
        (["builder"], {"builder": {}}, True, []),
        # removing a reloadable key: a reload would keep the old value
        (["debug"], {}, True, ["debug"]),
        (["live-restore"], {"icc": False}, True, ["live-restore"]),
        # ... except for keys a reload resets to their default
        (["max-concurrent-downloads", "features"], {}, False, ["features", "max-concurrent-downloads"]),
    ],
)
def test_restart_plan(keys, after, needs_restart, reload_keys):
    assert _daemon.restart_plan(keys, after) == (needs_restart, reload_keys)


def test_restart_plan_without_after_treats_keys_as_removed():
    assert _daemon.restart_plan(["debug"]) == (True, ["debug"])
    assert _daemon.restart_plan(["features"]) == (False, ["features"])


class FakeRun:
    def __init__(self, returncode=0, stdout="", stderr="", exc=None):
        self.result = subprocess.CompletedProcess([], returncode, stdout, stderr)
        self.exc = exc
        self.calls = []

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        if self.exc:
            raise self.exc
        return self.result


@pytest.mark.parametrize(
    ("fake", "version", "validate"),
    [
        (FakeRun(stdout="Docker version 26.1.5+dfsg1, build 411e817\n"), (26, 1, 5), True),
        (FakeRun(stdout="Docker version 23.0.0, build e92dd87\n"), (23, 0, 0), True),
        (FakeRun(stdout="Docker version 20.10.24+dfsg1, build 5d6db84\n"), (20, 10, 24), False),
        (FakeRun(returncode=1, stderr="unknown flag: --version\n"), None, False),
        (FakeRun(exc=FileNotFoundError("dockerd")), None, False),
    ],
)
def test_dockerd_version_and_validate(fake, version, validate):
    assert _daemon.dockerd_version("dockerd", runner=fake) == version
    assert fake.calls == [["dockerd", "--version"]]
    assert _daemon.supports_validate(version) is validate


def test_dockerd_validate_ok():
    fake = FakeRun(stdout="configuration OK")
    _daemon.dockerd_validate("/tmp/x.json", runner=fake)
    assert fake.calls == [["dockerd", "--validate", "--config-file", "/tmp/x.json"]]


def test_dockerd_validate_refused():
    fake = FakeRun(returncode=1, stderr="unable to configure the Docker daemon with file x: bad")
    with pytest.raises(DaemonConfigError, match="dockerd --validate refused the configuration: unable"):
        _daemon.dockerd_validate("/tmp/x.json", runner=fake)


# --- odd input: each case once crashed the module or was written back --------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"mtu": NaN}', "NaN, which is not JSON"),
        ('{"features": {"x": Infinity}}', "Infinity, which is not JSON"),
        ('{"labels": [-Infinity]}', "-Infinity, which is not JSON"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested more than 32 levels"),
        ('{"mtu": %d}' % (1 << 64), "outside the 64-bit integers"),
    ],
)
def test_parse_text_refuses_what_dockerd_cannot_load(text, fragment):
    with pytest.raises(DaemonConfigError, match=re.escape(fragment)):
        _daemon.parse_text(text)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"x": float("nan")}, "settings.x is nan"),
        ({"x": [1, float("inf")]}, "settings.x[1] is inf"),
        ({"x": {1: "a"}}, "has the key 1, which is not a string"),
        ({"x": object()}, "settings.x is a object"),
    ],
)
def test_check_json_value_refuses_non_json(value, fragment):
    with pytest.raises(DaemonConfigError, match=re.escape(fragment)):
        _daemon.check_json_value(value, "settings")


def test_check_json_value_walks_deep_values_without_recursion():
    deep = leaf = {}
    for _level in range(100000):
        leaf["k"] = {}
        leaf = leaf["k"]
    with pytest.raises(DaemonConfigError, match="nested more than 32 levels"):
        _daemon.check_json_value(deep, "settings")


def test_render_never_writes_nan():
    with pytest.raises(ValueError):
        _daemon.render({"x": float("nan")})


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"mtu": -5}, "'mtu' must be between 0 and 65535, got -5"),
        ({"mtu": 70000}, "'mtu' must be between 0 and 65535"),
        ({"network-diagnostic-port": 65536}, "'network-diagnostic-port' must be between"),
        ({"max-download-attempts": 0}, "'max-download-attempts' must be between 1"),
        ({"runtimes": {"crun": "/usr/bin/crun"}}, "'runtimes.crun' must be an object"),
        ({"runtimes": {"crun": {"path": 5}}}, "'runtimes.crun.path' must be a string, got 5"),
        ({"runtimes": {"crun": {"path": "/usr/bin/crun", "args": []}}}, "'runtimes.crun' has no field 'args'"),
        ({"runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": [1]}}},
         "runtimeArgs' must be a list of strings"),
        ({"runtimes": {"crun": {}}}, "'runtimes.crun' needs a 'path'"),
        ({"runtimes": {"runc": {"path": "/usr/bin/runc"}}}, "'runc' is reserved"),
        ({"runtimes": {"x": {"path": "/x", "options": {"a": 1}}}}, "'runtimes.x.options' applies only with"),
        ({"default-address-pools": [{"base": "10.0.0.0/8"}]}, "needs both 'base'"),
        ({"default-address-pools": ["10.0.0.0/8"]}, "'default-address-pools[0]' must be an object"),
        ({"default-address-pools": [{"base": "10.0.0.0/33", "size": 24}]}, "must be a CIDR"),
        ({"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}, "between the base's prefix length 16 and 32"),
        ({"default-address-pools": [{"base": "10.0.0.0/16", "size": "24"}]},
         "'default-address-pools[0].size' must be an integer"),
        ({"features": {"buildkit": "yes"}}, "'features.buildkit' must be true or false"),
        ({"proxies": {"http-proxy": 8080}}, "'proxies.http-proxy' must be a string"),
        ({"proxies": {"http_proxy": "http://p:3128"}}, "'proxies' has no field 'http_proxy'"),
        ({"default-network-opts": {"bridge": {"com.docker.network.driver.mtu": 1400}}}, "must be a string (quote"),
        ({"default-network-opts": {"bridge": "mtu=1400"}}, "'default-network-opts.bridge' must be an object"),
        ({"builder": {"gc": {"enabled": "true"}}}, "'builder.gc.enabled' must be a boolean"),
    ],
)
def test_nested_values_of_known_keys_are_checked(config, fragment):
    with pytest.raises(DaemonConfigError, match=re.escape(fragment)):
        _daemon.validate_settings(config)


@pytest.mark.parametrize(
    "config",
    [
        {"mtu": 1400},
        {"mtu": 0},
        {"runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--systemd-cgroup"]}}},
        {"runtimes": {"kata": {"runtimeType": "io.containerd.kata.v2", "options": {"ConfigPath": "/etc/kata.toml"}}}},
        {"default-address-pools": [{"base": "172.80.0.0/16", "size": 24}, {"base": "fd00::/48", "size": 64}]},
        {"features": {"buildkit": True, "containerd-snapshotter": False}},
        {"proxies": {"http-proxy": "http://proxy:3128", "no-proxy": "localhost"}},
        {"default-network-opts": {"bridge": {"com.docker.network.driver.mtu": "1400"}}},
        {"builder": {"gc": {"enabled": True, "defaultKeepStorage": "10GB"}, "history": {"maxAge": "48h"}}},
    ],
)
def test_nested_values_dockerd_takes_pass(config):
    assert _daemon.validate_settings(config) == []


def test_seccomp_profile_that_is_not_a_regular_file_is_refused_without_reading(tmp_path):
    fifo = tmp_path / "profile.fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        with pytest.raises(DaemonConfigError, match="not a regular file"):
            _daemon.check_seccomp_file(path)


def test_seccomp_profile_not_utf8_or_too_deep_is_a_clear_error(tmp_path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"defaultAction": "\xff"}')
    with pytest.raises(DaemonConfigError, match="not UTF-8"):
        _daemon.check_seccomp_file(str(binary))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DaemonConfigError, match="nested too deeply"):
        _daemon.check_seccomp_file(str(deep))


def _process_gone(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_dockerd_validate_that_hangs_is_killed_with_its_children(tmp_path):
    # A real process tree: the "dockerd" starts a child and both hang.
    child_pid = tmp_path / "child.pid"
    fake = tmp_path / "dockerd"
    fake.write_text("#!/bin/sh\nsleep 300 &\necho $! > %s\nsleep 300\n" % child_pid)
    fake.chmod(0o755)
    with pytest.raises(DaemonConfigError, match="did not answer within 1 s and was stopped"):
        _daemon.dockerd_validate(str(tmp_path / "daemon.json"), dockerd=str(fake), timeout=1)
    pid = int(child_pid.read_text())
    for _attempt in range(50):
        if _process_gone(pid):
            break
        time.sleep(0.1)
    assert _process_gone(pid), "the hanging dockerd's child %d survived" % pid


def test_dockerd_validate_that_cannot_run_is_a_clear_error(tmp_path):
    with pytest.raises(DaemonConfigError, match="could not be run"):
        _daemon.dockerd_validate("/tmp/x.json", dockerd=str(tmp_path / "missing-dockerd"))


def test_run_bounded_returns_output_of_a_real_process():
    proc = _daemon.run_bounded(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
