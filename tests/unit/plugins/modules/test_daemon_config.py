"""Whole-module tests for confine.docker.daemon_config with dockerd faked."""

from __future__ import annotations

import functools
import json
import os

import pytest
from _harness import run_module

from ansible_collections.confine.docker.plugins.module_utils._daemon import DaemonConfigError
from ansible_collections.confine.docker.plugins.modules import daemon_config

HARDENED = {"no-new-privileges": True, "live-restore": True, "icc": False, "userland-proxy": False, "log-level": "info"}


class FakeDockerd:
    """``dockerd --version`` and ``dockerd --validate``; 20.10 (Debian 12) unless told otherwise."""

    def __init__(self):
        self.installed = True
        self.supports_validate = False
        self.refuse = None
        self.validated = []
        self.probed = []

    def version(self, dockerd="dockerd"):
        self.probed.append(dockerd)
        if not self.installed:
            return None
        return (26, 1, 5) if self.supports_validate else (20, 10, 24)

    def validate(self, path, dockerd="dockerd"):
        with open(path, encoding="utf-8") as handle:
            self.validated.append(json.load(handle))
        if self.refuse:
            raise DaemonConfigError("dockerd --validate refused the configuration: %s" % self.refuse)


@pytest.fixture
def dockerd(monkeypatch):
    fake = FakeDockerd()

    monkeypatch.setattr(daemon_config, "dockerd_version", fake.version)
    monkeypatch.setattr(daemon_config, "dockerd_validate", fake.validate)
    return fake


run = functools.partial(run_module, daemon_config.main)


def test_check_real_check_real_keeps_other_keys(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true, "log-opts": {"max-size": "10m"}}')
    args = {"path": str(path), "settings": dict(HARDENED, **{"log-opts": {"max-file": "3"}}), "backup": True}

    first = run(args, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"]
    assert path.read_text() == '{"debug": true, "log-opts": {"max-size": "10m"}}'
    assert first["diff"]["before"] == '{"debug": true, "log-opts": {"max-size": "10m"}}'
    assert json.loads(first["diff"]["after"]) == first["config"]
    assert first["needs_restart"] is True
    assert first["reload_keys"] == ["live-restore"]
    assert first["changed_keys"] == sorted([*HARDENED, "log-opts"])
    assert first["validated_by"] == "module"

    second = run(args)
    assert second["changed"] and "diff" not in second
    written = json.loads(path.read_text())
    assert written == dict(HARDENED, debug=True, **{"log-opts": {"max-size": "10m", "max-file": "3"}})
    assert second["backup_file"] and os.path.exists(second["backup_file"])
    with open(second["backup_file"], encoding="utf-8") as handle:
        assert handle.read() == '{"debug": true, "log-opts": {"max-size": "10m"}}'

    third = run(args, check_mode=True)
    assert third["changed"] is False and third["changed_keys"] == [] and third["needs_restart"] is False
    before = path.read_text()
    assert run(args)["changed"] is False
    assert path.read_text() == before


def test_creates_missing_file_with_0644(dockerd, tmp_path):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    result = run({"path": str(path), "settings": {"live-restore": True}})
    assert result["changed"] and result["needs_restart"] is False and result["reload_keys"] == ["live-restore"]
    assert json.loads(path.read_text()) == {"live-restore": True}
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert "backup_file" not in result


def test_missing_file_and_nothing_to_set_is_unchanged(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    assert run({"path": str(path)})["changed"] is False
    assert not path.exists()


def test_remove(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"icc": False, "userns-remap": "default"}))
    result = run({"path": str(path), "remove": ["userns-remap"]})
    assert result["changed"] and result["changed_keys"] == ["userns-remap"] and result["needs_restart"]
    assert json.loads(path.read_text()) == {"icc": False}


def test_unparsable_file_is_never_overwritten(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{\n  "icc": false,\n  "debug": yes\n}\n')
    result = run({"path": str(path), "settings": HARDENED})
    assert result["failed"]
    assert "line 3 column" in result["msg"] and "never overwritten" in result["msg"]
    assert path.read_text() == '{\n  "icc": false,\n  "debug": yes\n}\n'


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"no-new-privileges": "true"}, "'no-new-privileges' must be a boolean"),
        ({"log-level": "loud"}, "'log-level' must be one of"),
        ({"not-a-docker-key": True}, "unknown daemon.json key 'not-a-docker-key'"),
    ],
)
def test_bad_settings_change_nothing(dockerd, tmp_path, settings, fragment):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run({"path": str(path), "settings": settings})
    assert result["failed"] and fragment in result["msg"]
    assert path.read_text() == '{"debug": true}'


def test_unknown_key_allowed_with_warning(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    result = run({"path": str(path), "settings": {"shiny-new": 1}, "allow_unknown": True})
    assert result["changed"] and result["needs_restart"]
    assert json.loads(path.read_text()) == {"shiny-new": 1}


def test_seccomp_profile_must_exist(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    missing = tmp_path / "missing.json"
    result = run({"path": str(path), "settings": {"seccomp-profile": str(missing)}})
    assert result["failed"] and "does not exist" in result["msg"]
    assert not path.exists()
    result = run({"path": str(path), "settings": {"seccomp-profile": str(missing)}, "validate_seccomp": False})
    assert result["changed"]


def test_seccomp_profile_must_be_valid(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    profile = tmp_path / "profile.json"
    profile.write_text('{"syscalls": 5}')
    result = run({"path": str(path), "settings": {"seccomp-profile": str(profile)}})
    assert result["failed"] and "not a valid seccomp profile" in result["msg"]
    assert not path.exists()


def test_dockerd_validate_used_when_supported(dockerd, tmp_path):
    dockerd.supports_validate = True
    path = tmp_path / "daemon.json"
    result = run({"path": str(path), "settings": {"icc": False}})
    assert result["changed"] and result["validated_by"] == "module+dockerd" and result["engine"] == "26.1.5"
    assert dockerd.validated == [{"icc": False}]


def test_check_mode_asks_dockerd_too_and_writes_nothing(dockerd, tmp_path):
    dockerd.supports_validate = True
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run({"path": str(path), "settings": {"icc": False}}, check_mode=True)
    assert result["changed"] and result["validated_by"] == "module+dockerd"
    assert dockerd.validated == [{"debug": True, "icc": False}]
    dockerd.refuse = "invalid setting"
    refused = run({"path": str(path), "settings": {"icc": False}}, check_mode=True)
    assert refused["failed"] and "invalid setting" in refused["msg"]
    assert path.read_text() == '{"debug": true}' and sorted(os.listdir(tmp_path)) == ["daemon.json"]


def test_keys_the_installed_engine_does_not_take_change_nothing(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run({"path": str(path), "settings": {"log-format": "json"}})
    assert result["failed"] and "'log-format' needs Docker 25.0 or later; this dockerd (20.10.24)" in result["msg"]
    assert path.read_text() == '{"debug": true}'
    assert dockerd.validated == []


def test_dockerd_validate_refusal_leaves_file(dockerd, tmp_path):
    dockerd.supports_validate = True
    dockerd.refuse = "conflicting options"
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run({"path": str(path), "settings": {"icc": False}})
    assert result["failed"] and "conflicting options" in result["msg"]
    assert path.read_text() == '{"debug": true}'
    assert sorted(os.listdir(tmp_path)) == ["daemon.json"]


def test_duplicate_key_file_is_never_overwritten(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    original = '{"debug": true, "icc": true, "debug": false}'
    path.write_text(original)
    result = run({"path": str(path), "settings": {"icc": False}})
    assert result["failed"] and "'debug' more than once" in result["msg"]
    assert path.read_text() == original


@pytest.mark.parametrize(
    ("installed", "modern", "accepted"), [(True, False, False), (True, True, True), (False, False, True)]
)
def test_seccomp_keywords_follow_dockerd_version(dockerd, tmp_path, installed, modern, accepted):
    dockerd.installed = installed
    dockerd.supports_validate = modern
    path = tmp_path / "daemon.json"
    result = run({"path": str(path), "settings": {"seccomp-profile": "unconfined"}, "dockerd_path": "/opt/dockerd"})
    assert dockerd.probed == ["/opt/dockerd"]
    if accepted:
        assert result["changed"] and json.loads(path.read_text()) == {"seccomp-profile": "unconfined"}
    else:
        assert result["failed"] and "needs Docker 23 or later" in result["msg"]
        assert not path.exists()


def test_removing_reloadable_key_needs_restart(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"debug": True, "live-restore": True}))
    result = run({"path": str(path), "remove": ["debug"]})
    assert result["changed"] and result["changed_keys"] == ["debug"]
    assert result["needs_restart"] is True and result["reload_keys"] == ["debug"]
    assert json.loads(path.read_text()) == {"live-restore": True}


def test_non_utf8_daemon_json_is_a_clear_error_and_kept(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{"debug": "\xff\xfe"}')
    result = run({"path": str(path), "settings": {"icc": False}})
    assert result["failed"] and "not UTF-8 text" in result["msg"], result
    assert path.read_bytes() == b'{"debug": "\xff\xfe"}'


def test_deeply_nested_daemon_json_is_a_clear_error(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"x": ' + "[" * 50000 + "]" * 50000 + "}")
    result = run({"path": str(path), "settings": {"icc": False}})
    assert result["failed"] and "nested too deeply" in result["msg"], result


def test_nan_in_settings_is_refused_not_written(dockerd, tmp_path):
    path = tmp_path / "daemon.json"
    result = run({"path": str(path), "settings": {"mtu": float("nan")}})
    assert result["failed"] and "settings.mtu is nan" in result["msg"], result
    assert not path.exists()


def test_symlinked_daemon_json_is_written_through_to_its_target(dockerd, tmp_path):
    real = tmp_path / "config" / "daemon.json"
    real.parent.mkdir()
    real.write_text('{"debug": true}')
    link = tmp_path / "daemon.json"
    link.symlink_to(real)
    result = run({"path": str(link), "settings": {"icc": False}, "backup": True})
    assert not result["failed"] and result["changed"], result
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text()) == {"debug": True, "icc": False}
    assert result["written_path"] == str(real)
    assert result["backup_file"].startswith(str(real) + ".")
    again = run({"path": str(link), "settings": {"icc": False}})
    assert not again["failed"] and not again["changed"], again


def test_symlink_into_a_missing_directory_is_refused(dockerd, tmp_path):
    link = tmp_path / "daemon.json"
    link.symlink_to(tmp_path / "gone" / "daemon.json")
    result = run({"path": str(link), "settings": {"icc": False}})
    assert result["failed"] and "whose directory does not exist" in result["msg"], result
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_refused_validation_leaves_no_backup(dockerd, tmp_path):
    dockerd.supports_validate = True
    dockerd.refuse = "conflicting options"
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run({"path": str(path), "settings": {"icc": False}, "backup": True})
    assert result["failed"] and "conflicting options" in result["msg"]
    assert sorted(os.listdir(tmp_path)) == ["daemon.json"]
    assert path.read_text() == '{"debug": true}'


def test_accepted_change_keeps_its_backup(dockerd, tmp_path):
    dockerd.supports_validate = True
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run({"path": str(path), "settings": {"icc": False}, "backup": True})
    assert not result["failed"] and result["changed"]
    with open(result["backup_file"], encoding="utf-8") as handle:
        assert handle.read() == '{"debug": true}'


def test_seccomp_profile_fifo_is_refused_at_once(dockerd, tmp_path):
    fifo = tmp_path / "profile.json"
    os.mkfifo(fifo)
    path = tmp_path / "daemon.json"
    result = run({"path": str(path), "settings": {"seccomp-profile": str(fifo)}})
    assert result["failed"] and "not a regular file (a FIFO)" in result["msg"], result
    assert not path.exists()
