"""confine.docker.apparmor_profile on this host: the real apparmor_parser, a kernel without AppArmor.

Covers validation and installation with ``load: false``, the refusal of a broken profile (nothing changes), and the
clear failure when loading is asked of a kernel that has no AppArmor. The kernel side is in test_apparmor_vm.py.
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import ROOT, run_module

MODULE = "confine.docker.apparmor_profile"
FIXTURES = os.path.join(ROOT, "tests", "unit", "fixtures", "apparmor")
HOST_HAS_APPARMOR = os.path.exists("/sys/kernel/security/apparmor/profiles")

pytestmark = pytest.mark.skipif(shutil.which("apparmor_parser", path="/sbin:/usr/sbin:/usr/bin") is None,
                                reason="apparmor_parser is not installed")


@pytest.fixture(autouse=True)
def _local_interpreter(monkeypatch):
    """Run modules on localhost with the system python3 (interpreter discovery may pick a pyenv shim)."""
    if "ANSIBLE_PYTHON_INTERPRETER" not in os.environ and os.path.exists("/usr/bin/python3"):
        monkeypatch.setenv("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")


SPEC = {
    "filesystem": {"writable_paths": ["/tmp/**"], "allow_exec": ["/usr/bin/sleep"], "deny_exec": ["/bin/sh"]},
    "capabilities": {"allow": ["chown"]},
    "network": {"protocols": ["tcp"]},
}


def test_load_false_installs_validated_profile_idempotently(tmp_path):
    path = str(tmp_path / "aa-it-host")
    args = {"name": "aa-it-host", "spec": SPEC, "path": path, "load": False, "mode": "complain"}

    checked = run_module(MODULE, args, check_mode=True, diff=True)
    assert checked["changed"] is True, checked
    assert not os.path.exists(path)
    assert "profile aa-it-host flags=(attach_disconnected,mediate_deleted,complain) {" in checked["diff"][0]["after"]

    first = run_module(MODULE, args)
    assert first["changed"] is True, first
    with open(path, encoding="utf-8") as handle:
        installed = handle.read()
    assert "flags=(attach_disconnected,mediate_deleted,complain)" in installed
    assert "  /usr/bin/sleep mrix,\n" in installed
    assert first["profiles"] == ["aa-it-host"]

    assert run_module(MODULE, args, check_mode=True)["changed"] is False
    assert run_module(MODULE, args)["changed"] is False

    enforce = run_module(MODULE, {"name": "aa-it-host", "path": path, "load": False, "mode": "enforce",
                                  "backup": True})
    assert enforce["changed"] is True, enforce
    with open(path, encoding="utf-8") as handle:
        assert "flags=(attach_disconnected,mediate_deleted) {" in handle.read()
    with open(enforce["backup_file"], encoding="utf-8") as handle:
        assert handle.read() == installed

    absent = {"name": "aa-it-host", "path": path, "load": False, "state": "absent"}
    assert run_module(MODULE, absent, check_mode=True)["changed"] is True
    assert os.path.exists(path)
    assert run_module(MODULE, absent)["changed"] is True
    assert not os.path.exists(path)
    assert run_module(MODULE, absent)["changed"] is False


def test_syntax_error_reports_parser_line_and_changes_nothing(tmp_path):
    path = str(tmp_path / "aa-it-broken")
    good = "profile aa-it-broken {\n  /tmp/** rw,\n}\n"
    assert run_module(MODULE, {"name": "aa-it-broken", "content": good, "path": path, "load": False})["changed"]

    broken = "profile aa-it-broken {\n  /tmp/** rw,\n  /etc/passwd r\n}\n"
    result = run_module(MODULE, {"name": "aa-it-broken", "content": broken, "path": path, "load": False})
    assert result["failed"] is True
    assert "AppArmor parser error" in result["msg"], result
    assert result["parser_line"] == 4, result
    assert path in result["msg"]
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == good
    assert os.listdir(tmp_path) == ["aa-it-broken"]


def test_content_must_declare_the_named_profile(tmp_path):
    path = str(tmp_path / "aa-it-other")
    result = run_module(MODULE, {"name": "aa-it-other", "content": "profile something-else {\n}\n", "path": path,
                                 "load": False})
    assert result["failed"] is True
    assert "aa-it-other" in result["msg"]
    assert not os.path.exists(path)


@pytest.mark.parametrize("name", ["../etc/passwd", "a b", "x;reboot", "a/b", ".hidden"])
def test_bad_names_are_refused_before_any_path_is_used(tmp_path, name):
    result = run_module(MODULE, {"name": name, "spec": SPEC, "load": False, "path": str(tmp_path / "p")})
    assert result["failed"] is True
    assert "invalid profile name" in result["msg"], result
    assert os.listdir(tmp_path) == []


def test_bane_sample_from_src_is_rendered_and_installed(tmp_path):
    path = str(tmp_path / "docker-nginx")
    args = {"src": os.path.join(FIXTURES, "bane-sample.toml"), "path": path, "load": False}
    first = run_module(MODULE, args)
    assert first["changed"] is True, first
    assert first["name"] == "docker-nginx"
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert "audit deny /bin/sh mrwklx," in text
    assert "capability net_bind_service," in text
    assert run_module(MODULE, args)["changed"] is False


@pytest.mark.skipif(HOST_HAS_APPARMOR, reason="this host's kernel has AppArmor")
def test_loading_on_a_kernel_without_apparmor_fails_clearly(tmp_path):
    path = str(tmp_path / "aa-it-noaa")
    for check_mode in (True, False):
        result = run_module(MODULE, {"name": "aa-it-noaa", "spec": SPEC, "path": path}, check_mode=check_mode)
        assert result["failed"] is True
        assert "AppArmor is not available on this host" in result["msg"], result
        assert "load=false" in result["msg"]
        assert not os.path.exists(path)


def test_a_file_declaring_a_second_profile_is_refused_by_the_real_parser(tmp_path):
    path = str(tmp_path / "aa-it-one")
    text = ("profile aa-it-one {\n  /tmp/** rw,\n}\n"
            "profile docker-default flags=(complain) {\n  /** rwlkmix,\n}\n")
    result = run_module(MODULE, {"name": "aa-it-one", "content": text, "path": path, "load": False})
    assert result["failed"] is True
    assert "exactly one profile" in result["msg"] and "docker-default" in result["msg"]
    assert not os.path.exists(path)
    # A child profile is the profile's own business.
    child = "profile aa-it-one {\n  /tmp/** rw,\n  profile helper {\n    /tmp/** r,\n  }\n}\n"
    result = run_module(MODULE, {"name": "aa-it-one", "content": child, "path": path, "load": False})
    assert result["changed"] is True and result["profiles"] == ["aa-it-one", "aa-it-one//helper"], result


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"extra_rules": ["} profile docker-default flags=(complain) {"]}, "closes a block"),
        ({"extra_rules": ['#include "/etc/shadow"']}, "never a path on the host"),
        ({"name": "docker-default"}, "reserved"),
    ],
)
def test_spec_injections_are_refused_before_anything_is_written(tmp_path, spec, message):
    path = str(tmp_path / "aa-it-inject")
    args = {"spec": dict({"name": "aa-it-inject"}, **spec), "path": path, "load": False}
    result = run_module(MODULE, args)
    assert result["failed"] is True and message in result["msg"], result
    assert not os.path.exists(path)
