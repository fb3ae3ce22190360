"""Whole-module tests for confine.docker.apparmor_facts over a faked /etc/apparmor.d and securityfs."""

from __future__ import annotations

import functools

from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.module_utils import _apparmor as aa
from ansible_collections.confine.docker.plugins.modules import apparmor_facts


def test_facts_of_an_apparmor_4_host(monkeypatch, tmp_path):
    (tmp_path / "abi").mkdir()
    for name in ("3.0", "4.0"):
        (tmp_path / "abi" / name).write_text("")
    (tmp_path / "base").write_text("  abi <abi/4.0>,\n")
    (tmp_path / "features" / "signal").mkdir(parents=True)
    (tmp_path / "enabled").write_text("Y\n")
    monkeypatch.setattr(apparmor_facts, "host_facts", functools.partial(
        aa.host_facts, abi_dir=str(tmp_path / "abi"), base=str(tmp_path / "base"), securityfs=str(tmp_path),
        param=str(tmp_path / "enabled")))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/" + name)
    calls = []

    def run_command(self, argv, **_kwargs):
        calls.append(argv)
        return 0, "AppArmor parser version 4.1.0\n", ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    result = run_module(apparmor_facts.main, {}, check_mode=True)
    assert not result["failed"] and result["changed"] is False
    assert calls == [["/usr/sbin/apparmor_parser", "--version"]]
    facts = result["ansible_facts"]["confine_apparmor_host"]
    assert facts["abi"] == "4.0" and facts["parser_version"] == "4.1.0" and facts["enabled"] is True
    assert facts["features"] == {"signal": True, "network.af_unix": False}


def test_a_host_without_apparmor_parser_is_no_error(monkeypatch, tmp_path):
    monkeypatch.setattr(apparmor_facts, "host_facts", functools.partial(
        aa.host_facts, abi_dir=str(tmp_path), base=str(tmp_path / "base"), securityfs=str(tmp_path),
        param=str(tmp_path / "enabled")))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **kw: None)
    result = run_module(apparmor_facts.main, {})
    facts = result["ansible_facts"]["confine_apparmor_host"]
    assert not result["failed"] and facts["parser"] is None and facts["abi"] is None and facts["enabled"] is False
