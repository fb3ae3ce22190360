"""Whole-module tests for confine.docker.state_file: content and src, check/diff mode, force, mode, errors."""

from __future__ import annotations

import functools
import os
import stat

from _harness import run_module

from ansible_collections.confine.docker.plugins.modules import state_file

run = functools.partial(run_module, state_file.main)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_content_check_real_check_real(tmp_path):
    path = tmp_path / "report.v1.md"
    args = {"path": str(path), "content": "# Review of web, round 1\n"}
    first = run(args, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"] and not path.exists()
    assert first["diff"]["after"] == "# Review of web, round 1\n" and first["diff"]["before"] == ""
    second = run(args)
    assert second["changed"] and path.read_text() == "# Review of web, round 1\n" and mode_of(path) == 0o640
    assert run(args, check_mode=True)["changed"] is False
    assert run(args)["changed"] is False
    assert os.listdir(tmp_path) == ["report.v1.md"]


def test_an_existing_file_keeps_its_mode_unless_one_is_given(tmp_path):
    path = tmp_path / "apparmor.v1.json"
    path.write_text("{}\n")
    os.chmod(path, 0o600)
    assert run({"path": str(path), "content": '{"name": "x"}\n'})["changed"] and mode_of(path) == 0o600
    assert run({"path": str(path), "content": '{"name": "x"}\n', "mode": "0644"})["changed"]
    assert mode_of(path) == 0o644


def test_force_false_keeps_an_existing_file(tmp_path):
    path = tmp_path / "daemon.json.original.json"
    args = {"path": str(path), "content": '{"backup": "a", "created": false}\n', "force": False}
    assert run(args)["changed"] and path.read_text() == '{"backup": "a", "created": false}\n'
    again = run(dict(args, content='{"backup": "b", "created": false}\n'))
    assert again["changed"] is False and path.read_text() == '{"backup": "a", "created": false}\n'


def test_src_is_copied_byte_for_byte_with_its_mode(tmp_path):
    src, path = tmp_path / "daemon.json.1.x~", tmp_path / "daemon.json"
    src.write_bytes(b'{"debug": true}\r\n\xff')
    os.chmod(src, 0o600)
    path.write_text("{}")
    result = run({"path": str(path), "src": str(src), "mode": "preserve"})
    assert result["changed"] and path.read_bytes() == src.read_bytes() and mode_of(path) == 0o600
    assert run({"path": str(path), "src": str(src), "mode": "preserve"})["changed"] is False


def test_errors_name_the_file_and_change_nothing(tmp_path):
    missing = run({"path": str(tmp_path / "f"), "src": str(tmp_path / "nope")})
    assert missing["failed"] and "%s does not exist" % (tmp_path / "nope") in missing["msg"]
    bad = run({"path": str(tmp_path / "f"), "content": "x", "mode": "rwx"})
    assert bad["failed"] and "not an octal file mode" in bad["msg"]
    preserve = run({"path": str(tmp_path / "f"), "content": "x", "mode": "preserve"})
    assert preserve["failed"] and "needs src" in preserve["msg"]
    nodir = run({"path": str(tmp_path / "nope" / "f"), "content": "x"})
    assert nodir["failed"] and "directory %s does not exist" % (tmp_path / "nope") in nodir["msg"]
    (tmp_path / "dir").mkdir()
    notfile = run({"path": str(tmp_path / "dir"), "content": "x"})
    assert notfile["failed"] and "is not a regular file" in notfile["msg"]
    assert sorted(os.listdir(tmp_path)) == ["dir"]
