"""Whole-module tests for confine.docker.apparmor_profile with apparmor_parser and the kernel faked."""

from __future__ import annotations

import functools

import pytest
from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.action import apparmor_profile as action
from ansible_collections.confine.docker.plugins.module_utils._apparmor import AppArmorError
from ansible_collections.confine.docker.plugins.modules import apparmor_profile

NAME = "aatest-unit"
PROFILE = (
    """#include <tunables/global>

profile %s flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>
  file,
}
"""
    % NAME
)


class FakeKernel:
    """Stands in for apparmor_parser and /sys/kernel/security/apparmor/profiles."""

    def __init__(self, enabled=True, loaded=None, syntax_error_line=None):
        self.enabled = enabled
        self.loaded = dict(loaded or {})
        self.syntax_error_line = syntax_error_line
        self.calls = []

    def run_command(self, argv, **_kwargs):
        args = argv[1:]
        self.calls.append(args)
        path = args[-1]
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if args[0] == "-QK":
            if self.syntax_error_line:
                message = "AppArmor parser error for %s in profile %s at line %d: syntax error, unexpected TOK_ID\n"
                return 1, "", message % (path, path, self.syntax_error_line)
            return 0, "", "Cache read/write disabled: interface file missing.\n"
        if args[0] == "-N":
            return 0, "%s\n" % NAME, ""
        if args[:2] == ["-r", "-W"]:
            self.loaded[NAME] = "complain" if "complain" in text.split("{", 1)[0] else "enforce"
            return 0, "", ""
        if args[0] == "-R":
            self.loaded.pop(NAME, None)
            return 0, "", ""
        raise AssertionError("unexpected apparmor_parser call %r" % (argv,))


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeKernel()

    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: fake.run_command(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **kw: "/sbin/apparmor_parser")
    monkeypatch.setattr(
        apparmor_profile,
        "apparmor_enabled",
        lambda: (fake.enabled, None if fake.enabled else "the kernel has no AppArmor (no securityfs)"),
    )
    monkeypatch.setattr(apparmor_profile, "loaded_profiles", lambda: dict(fake.loaded))
    return fake


run = functools.partial(run_module, apparmor_profile.main)


def test_install_load_check_real_check_real(kernel, tmp_path):
    path = tmp_path / NAME
    args = {"name": NAME, "content": PROFILE, "path": str(path), "mode": "enforce"}

    first = run(args, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"]
    assert not path.exists() and kernel.loaded == {}
    assert first["diff"][0]["after"] == PROFILE

    second = run(args)
    assert second["changed"] and second["mode"] == "enforce"
    assert path.read_text() == PROFILE
    assert kernel.loaded == {NAME: "enforce"}
    assert ["-r", "-W", str(path)] in kernel.calls

    assert run(args, check_mode=True)["changed"] is False
    calls = len(kernel.calls)
    assert run(args)["changed"] is False
    assert not any(call[0] in ("-r", "-R") for call in kernel.calls[calls:])


def test_switch_to_complain_edits_flags_and_reloads(kernel, tmp_path):
    path = tmp_path / NAME
    path.write_text(PROFILE)
    kernel.loaded[NAME] = "enforce"
    result = run({"name": NAME, "path": str(path), "mode": "complain"}, diff=True)
    assert result["changed"] and result["mode"] == "complain" and result["previous_mode"] == "enforce"
    assert "flags=(attach_disconnected,mediate_deleted,complain)" in path.read_text()
    assert kernel.loaded[NAME] == "complain"
    assert any(part["after"] == "complain\n" for part in result["diff"])

    back = run({"name": NAME, "path": str(path), "mode": "enforce"})
    assert back["changed"] and path.read_text() == PROFILE and kernel.loaded[NAME] == "enforce"


def test_kernel_mode_drift_alone_triggers_reload(kernel, tmp_path):
    path = tmp_path / NAME
    path.write_text(PROFILE)
    kernel.loaded[NAME] = "complain"
    result = run({"name": NAME, "path": str(path), "mode": "enforce"})
    assert result["changed"] and kernel.loaded[NAME] == "enforce"
    assert path.read_text() == PROFILE


def test_syntax_error_reports_line_and_changes_nothing(kernel, tmp_path):
    path = tmp_path / NAME
    path.write_text(PROFILE)
    kernel.loaded[NAME] = "enforce"
    kernel.syntax_error_line = 4
    result = run({"name": NAME, "path": str(path), "content": PROFILE.replace("file,", "file")})
    assert result["failed"]
    assert result["parser_line"] == 4
    assert "line 4" in result["msg"] and str(path) in result["msg"]
    assert path.read_text() == PROFILE
    assert not any(call[0] in ("-r", "-R") for call in kernel.calls)


def test_no_apparmor_in_kernel_fails_clearly_unless_load_false(kernel, tmp_path):
    kernel.enabled = False
    path = tmp_path / NAME
    result = run({"name": NAME, "path": str(path), "content": PROFILE})
    assert result["failed"] and "AppArmor is not available" in result["msg"] and "load=false" in result["msg"]
    assert not path.exists()

    installed = run({"name": NAME, "path": str(path), "content": PROFILE, "load": False})
    assert installed["changed"] and installed["mode"] is None and path.read_text() == PROFILE
    assert not any(call[0] == "-r" for call in kernel.calls)


def test_absent_unloads_then_deletes(kernel, tmp_path):
    path = tmp_path / NAME
    path.write_text(PROFILE)
    kernel.loaded[NAME] = "enforce"
    assert run({"name": NAME, "path": str(path), "state": "absent"}, check_mode=True)["changed"]
    assert path.exists() and NAME in kernel.loaded
    result = run({"name": NAME, "path": str(path), "state": "absent", "backup": True})
    assert result["changed"] and not path.exists() and NAME not in kernel.loaded
    assert ["-R", str(path)] in kernel.calls
    assert result["backup_file"]
    with open(result["backup_file"], encoding="utf-8") as handle:
        assert handle.read() == PROFILE
    assert run({"name": NAME, "path": str(path), "state": "absent"})["changed"] is False


@pytest.mark.parametrize("name", ["../etc/passwd", "a b", "x;rm", "", "-lead"])
def test_bad_names_fail_before_any_file_access(kernel, tmp_path, name):
    result = run({"name": name, "path": str(tmp_path / "p"), "content": PROFILE})
    assert result["failed"]
    assert kernel.calls == []
    assert not (tmp_path / "p").exists()


def test_content_declaring_another_profile_is_refused(kernel, tmp_path):
    path = tmp_path / "other"
    result = run({"name": "other", "path": str(path), "content": PROFILE})
    assert result["failed"] and "other" in result["msg"]
    assert not path.exists()
    assert not any(call[0] == "-r" for call in kernel.calls)


def test_text_declaring_a_second_profile_is_refused_before_anything_is_written(kernel, tmp_path, monkeypatch):
    path = tmp_path / NAME
    path.write_text(PROFILE)
    kernel.loaded[NAME] = "enforce"
    real = kernel.run_command

    def run_command(argv, **kwargs):
        if argv[1] == "-N":
            return 0, "docker-default\n%s\n%s//child\n" % (NAME, NAME), ""
        return real(argv, **kwargs)

    monkeypatch.setattr(kernel, "run_command", run_command)
    second = PROFILE + "profile docker-default flags=(complain) {\n  /** rwlkmix,\n}\n"
    result = run({"name": NAME, "path": str(path), "content": second})
    assert result["failed"] and "exactly one profile" in result["msg"] and "docker-default" in result["msg"]
    assert path.read_text() == PROFILE
    assert not any(call[0] == "-r" for call in kernel.calls)


def test_src_or_spec_without_action_plugin_is_refused(kernel, tmp_path):
    result = run({"name": NAME, "spec": {"name": NAME}, "path": str(tmp_path / NAME)})
    assert result["failed"] and "action plugin" in result["msg"]


def test_result_names_the_abi_the_installed_text_declares(kernel, tmp_path):
    path = tmp_path / NAME
    text = "abi <abi/4.0>,\n" + PROFILE.replace("#include", "include")
    result = run({"name": NAME, "path": str(path), "content": text})
    assert not result["failed"] and result["abi"] == "4.0"
    assert run({"name": NAME, "path": str(path), "content": PROFILE})["abi"] is None


# --------------------------------------------------------------------------------- the action plugin's rendering

SPEC = {"name": NAME, "filesystem": {"writable_paths": ["/tmp/**"]}}


def test_spec_is_rendered_for_the_abi_of_the_host():
    asked = []

    def host_abi():
        asked.append(True)
        return "4.0"

    args = action.resolve_source({"spec": SPEC, "mode": "complain"}, read_src=None, host_abi=host_abi)
    assert asked == [True]
    assert args["name"] == NAME and "spec" not in args and args["mode"] == "complain"
    assert "\nabi <abi/4.0>,\n" in args["content"] and "  include <abstractions/base>\n" in args["content"]


@pytest.mark.parametrize(("abi", "line"), [("3.0", "abi <abi/3.0>,"), ("none", "#include <tunables/global>")])
def test_an_explicit_abi_is_used_without_asking_the_host(abi, line):
    def host_abi():
        raise AssertionError("the host was asked although the task names the ABI")

    args = action.resolve_source({"spec": SPEC, "abi": abi}, read_src=None, host_abi=host_abi)
    assert line in args["content"].splitlines()


def test_content_is_passed_as_written_and_the_host_is_not_asked():
    def host_abi():
        raise AssertionError("content needs no ABI")

    args = action.resolve_source({"name": NAME, "content": PROFILE}, read_src=None, host_abi=host_abi)
    assert args["content"] == PROFILE


def test_bane_toml_src_is_rendered_for_the_host_abi():
    toml = 'Name = "nginx"\n[Filesystem]\nWritablePaths = ["/tmp/**"]\n'
    args = action.resolve_source({"src": "nginx.toml"}, read_src=lambda path: toml, host_abi=lambda: "3.0")
    assert args["name"] == "docker-nginx" and "abi <abi/3.0>," in args["content"].splitlines()


def test_an_unknown_abi_fails_before_anything_is_rendered():
    with pytest.raises(AppArmorError, match=r"abi '5\.0'"):
        action.resolve_source({"spec": SPEC, "abi": "5.0"}, read_src=None, host_abi=lambda: "4.0")
