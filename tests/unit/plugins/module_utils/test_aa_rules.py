"""Unit tests for _aa_rules: record fields validated against what the kernel writes, and the rule renderer."""

from __future__ import annotations

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _aa_rules
from ansible_collections.confine.docker.plugins.module_utils._aa_rules import FieldError


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (_aa_rules.capability, "net_bind_service"),
        (_aa_rules.family, "netlink"),
        (_aa_rules.sock_type, "seqpacket"),
        (_aa_rules.signal, "term"),
        (_aa_rules.signal, "rtmin+12"),
        (_aa_rules.signal_access, "receive"),
        (_aa_rules.label, "docker-default"),
        (_aa_rules.label, "confine-web//null-/usr/bin/dash"),
        (_aa_rules.label, "/usr/sbin/nginx"),
        (_aa_rules.label, "runc//&confine-web"),
        (_aa_rules.fstype, "tmpfs"),
        (_aa_rules.mask, "wc"),
        (_aa_rules.path, "/var/lib/app/records.db"),
        (_aa_rules.path, "/var/lib/app/my data,v1.json"),
    ],
)
def test_valid_fields_pass(check, value):
    assert check(value) == value


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (_aa_rules.capability, "chown, /** rwlkmix, capability sys_admin", "capability"),
        (_aa_rules.capability, "CAP_CHOWN", "capability"),
        (_aa_rules.capability, None, "capability"),
        (_aa_rules.family, "inet raw, network packet", "family"),
        (_aa_rules.sock_type, "stream,", "sock_type"),
        (_aa_rules.signal, "unknown", "signal"),
        (_aa_rules.signal, "rtmin+99", "signal"),
        (_aa_rules.signal, "kill) peer=*", "signal"),
        (_aa_rules.signal_access, "send receive", "requested_mask"),
        (_aa_rules.label, "x } profile docker-default {", "peer"),
        (_aa_rules.label, "*", "peer"),
        (_aa_rules.label, "confine-web\n", "peer"),
        (_aa_rules.label, "a" * 300, "peer"),
        (_aa_rules.label, "", "peer"),
        (_aa_rules.ptrace_access, "trace) peer=unconfined", "requested_mask"),
        (_aa_rules.ptrace_access, "", "requested_mask"),
        (_aa_rules.fstype, "tmpfs -> /", "fstype"),
        (_aa_rules.mount_flags, "rw) -> /", "flags"),
        (_aa_rules.mask, "w, /**", "requested_mask"),
        (_aa_rules.path, "relative/path", "name"),
        (_aa_rules.path, "/a\x00b", "name"),
        (_aa_rules.path, "/a/\ufffd", "name"),
        (_aa_rules.path, "/a/../b", "name"),
        (_aa_rules.path, "/a//b", "name"),
        (_aa_rules.path, "/" + "a" * 5000, "name"),
    ],
)
def test_malformed_fields_raise(check, value, field):
    with pytest.raises(FieldError, match=r"^malformed record: %s=" % field):
        check(value)


def test_renderer():
    assert _aa_rules.capability_rule("chown") == "capability chown,"
    assert _aa_rules.network_rule("inet6", "dgram") == "network inet6 dgram,"
    assert _aa_rules.network_rule("unix") == "network unix,"
    assert _aa_rules.signal_rule("send", "confine-web", "term") == "signal (send) set=(term) peer=confine-web,"
    assert _aa_rules.signal_rule("receive", "runc") == "signal (receive) peer=runc,"
    assert _aa_rules.ptrace_rule("read trace", "confine-web") == "ptrace (trace,read) peer=confine-web,"
    assert _aa_rules.file_rule("/var/lib/app/*.db", "wk") == "/var/lib/app/*.db wk,"
    assert _aa_rules.exec_rule("/usr/sbin/nginx") == "/usr/sbin/nginx mrix,"
    assert _aa_rules.mount_rule("mount", "/mnt/", "tmpfs", "tmpfs", ("rw",)) == \
        "mount fstype=tmpfs options=(rw) tmpfs -> /mnt/,"
    assert _aa_rules.mount_rule("umount", "/mnt/x y") == "umount /mnt/x\\040y,"
    with pytest.raises(ValueError, match="not AppArmor file permissions"):
        _aa_rules.file_rule("/x", "rw, /** x")
