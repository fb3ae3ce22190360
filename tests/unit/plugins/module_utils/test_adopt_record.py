"""Unit tests for the record of an adopted container (_adopt.record, parse_record, resolve, read_host, complete):
what the first run reads is what every later stage recreates, and a container that cannot be adopted stops every
container's adoption before anything is written."""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _adopt
from ansible_collections.confine.docker.plugins.module_utils._adopt import AdoptError, AdoptionError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "adopt")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


MINIMAL, IMAGE = load("minimal"), load("image-base")
NAME = MINIMAL["Name"].lstrip("/")


def test_a_record_holds_the_entry_and_the_ids_it_was_read_from_and_parses_back():
    data = _adopt.record(MINIMAL, IMAGE)
    assert data["entry"] == _adopt.entry(MINIMAL, IMAGE)
    assert data["container_id"] == MINIMAL["Id"] and data["image_id"] == MINIMAL["Image"]
    text = _adopt.dumps(data)
    assert text == _adopt.dumps(json.loads(text)) and text.endswith("\n")
    assert _adopt.parse_record(text, NAME) == data


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not JSON"),
    ("[]", "not a record of schema 1"),
    (json.dumps({"schema": 2, "entry": {}}), "not a record of schema 1"),
    (json.dumps({"schema": 1, "entry": {"name": "other", "image": "x", "run": {}}}), "does not hold the entry"),
    (json.dumps({"schema": 1, "entry": {"name": NAME, "image": 5, "run": {}}}), "does not hold the entry"),
    (json.dumps({"schema": 1, "entry": {"name": NAME, "image": "x"}}), "does not hold the entry"),
])
def test_a_broken_record_is_refused_naming_its_file(text, message):
    with pytest.raises(AdoptError, match=message) as caught:
        _adopt.parse_record(text, NAME, "/var/lib/confine/%s/adopted.json" % NAME)
    assert "/var/lib/confine/%s/adopted.json" % NAME in str(caught.value)


def test_resolve_prefers_the_record_to_the_container_as_it_now_runs():
    kept = _adopt.record(MINIMAL, IMAGE)
    kept["entry"]["run"] = {"env": {"ORIGINAL": "1"}}
    now = copy.deepcopy(MINIMAL)
    now["HostConfig"]["CapDrop"] = ["AUDIT_WRITE"]
    entries, new = _adopt.resolve([NAME], {NAME: _adopt.dumps(kept)}, {NAME: now}, {MINIMAL["Image"]: IMAGE})
    assert entries == [kept["entry"]] and new == {}


def test_resolve_reads_a_container_without_record_and_gives_the_record_to_keep():
    entries, new = _adopt.resolve([NAME], {}, {NAME: MINIMAL}, {MINIMAL["Image"]: IMAGE})
    assert entries == [_adopt.entry(MINIMAL, IMAGE)]
    assert json.loads(new[NAME]) == _adopt.record(MINIMAL, IMAGE)


def test_every_container_that_cannot_be_adopted_is_named_and_none_is_given():
    privileged = copy.deepcopy(MINIMAL)
    privileged["HostConfig"]["Privileged"] = True
    privileged["Name"] = "/priv"
    with pytest.raises(AdoptionError) as caught:
        _adopt.resolve([NAME, "priv", "gone"], {}, {NAME: MINIMAL, "priv": privileged, "gone": None},
                       {MINIMAL["Image"]: IMAGE})
    problems = caught.value.problems
    assert len(problems) == 2
    assert "'priv'" in problems[0] and "privileged" in problems[0]
    assert "'gone'" in problems[1] and "no such container on the host" in problems[1]


def test_complete_keeps_the_users_keys_takes_image_and_run_and_drops_adopt():
    user = {"name": "web", "adopt": True, "workload": {"probes": ["http://127.0.0.1/"]}, "approve": {"seccomp": ["x"]}}
    adopted = {"name": "web", "image": "nginx:bookworm", "run": {"env": {"A": "1"}}}
    done = _adopt.complete(user, adopted)
    assert done == {"name": "web", "workload": {"probes": ["http://127.0.0.1/"]}, "approve": {"seccomp": ["x"]},
                    "image": "nginx:bookworm", "run": {"env": {"A": "1"}}}
    done["run"]["env"]["A"] = "2"
    assert adopted["run"]["env"]["A"] == "1" and "adopt" in user


class FakeDocker:
    """``docker container inspect``, ``image inspect`` and ``ps`` of a fake host; counts the calls."""

    def __init__(self, containers, images, fail=None):
        self.containers, self.images, self.fail, self.calls = containers, images, fail, []

    def __call__(self, argv):
        self.calls.append(argv[1:])
        if self.fail and self.fail in argv:
            return 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
        if argv[1:3] == ["ps", "-a"]:
            return 0, "".join("%s %s\n" % (c["Id"], c["Name"].lstrip("/")) for c in self.containers.values()), ""
        kind, ident = argv[1], argv[-1]
        table = self.containers if kind == "container" else self.images
        if ident not in table:
            return 1, "", "Error: No such %s: %s" % (kind, ident)
        return 0, json.dumps([table[ident]]), ""


def test_read_host_asks_docker_only_for_the_containers_without_a_record():
    docker = FakeDocker({NAME: MINIMAL}, {MINIMAL["Image"]: IMAGE})
    entries, new = _adopt.adopt([NAME, "kept"], {"kept": _adopt.dumps(
        {"schema": 1, "entry": {"name": "kept", "image": "x", "run": {}}})}, docker)
    assert [item["name"] for item in entries] == [NAME, "kept"] and list(new) == [NAME]
    asked = [call[-1] for call in docker.calls if call[0] in ("container", "image")]
    assert asked == [NAME, MINIMAL["Image"]]


def test_a_missing_container_is_none_and_docker_failing_is_an_adoption_error():
    docker = FakeDocker({}, {})
    inspects, _images, containers = _adopt.read_host(["web"], {}, docker)
    assert inspects == {"web": None} and containers == {}
    with pytest.raises(AdoptionError, match="docker container inspect web failed: Cannot connect"):
        _adopt.read_host(["web"], {}, FakeDocker({}, {}, fail="web"))


def test_read_records_reads_only_existing_records_and_names_an_unreadable_one(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "adopted.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "db").mkdir()
    os.mkfifo(tmp_path / "db" / "adopted.json")
    with pytest.raises(AdoptionError, match="container 'db': cannot read its adoption record"):
        _adopt.read_records(str(tmp_path), ["web", "db", "cache"])
    assert _adopt.read_records(str(tmp_path), ["web", "cache"]) == {"web": "{}\n"}


def sharing(name, cid, **modes):
    return {"Name": "/" + name, "Id": cid, "HostConfig": dict(modes)}


HOST = {"a" * 64: "web", "b" * 64: "sidecar", "c" * 64: "metrics", "d" * 64: "db"}
INSPECTS = [sharing("web", "a" * 64, NetworkMode="bridge"),
            sharing("sidecar", "b" * 64, NetworkMode="container:" + "a" * 64),
            sharing("metrics", "c" * 64, PidMode="container:web", IpcMode="container:" + "a" * 12),
            sharing("db", "d" * 64, NetworkMode="container:" + "e" * 64)]


def test_sharers_are_found_by_id_short_id_or_name_per_namespace():
    assert _adopt.sharers(INSPECTS, HOST) == {"web": [("sidecar", "network"), ("metrics", "pid"),
                                                      ("metrics", "ipc")]}


@pytest.mark.parametrize("order, expected", [
    (["db"], []),
    (["web", "sidecar", "metrics"], []),
    (["web", "sidecar"], ["'metrics' joins the pid namespace of 'web'", "'metrics' joins the ipc namespace"]),
    (["sidecar", "web", "metrics"], ["'sidecar' joins the network namespace of 'web' but is listed before it"]),
])
def test_a_sharer_must_be_an_entry_listed_after_the_container_it_joins(order, expected):
    problems = _adopt.sharer_problems(order, _adopt.sharers(INSPECTS, HOST))
    assert len(problems) == len(expected)
    for problem, text in zip(problems, expected):
        assert text in problem


def test_host_sharers_reads_every_container_once():
    by_name = {item["Name"].lstrip("/"): item for item in INSPECTS}
    calls = []

    def run(argv):
        calls.append(argv[1:3])
        if argv[1] == "ps":
            return 0, "".join("%s %s\n" % pair for pair in HOST.items()), ""
        return 0, json.dumps([by_name[HOST[cid]] for cid in argv[3:]]), ""

    assert _adopt.host_sharers(run)["web"][0] == ("sidecar", "network")
    assert calls == [["ps", "-a"], ["container", "inspect"]]
    assert _adopt.host_sharers(lambda argv: (0, "", "")) == {}
    with pytest.raises(AdoptionError, match="docker ps failed: down"):
        _adopt.host_sharers(lambda argv: (1, "", "down"))


def test_read_checks_the_sharers_of_the_entries_only_when_given_their_order(tmp_path):
    by_name = {item["Name"].lstrip("/"): item for item in INSPECTS}

    def run(argv):
        if argv[1] == "ps":
            return 0, "".join("%s %s\n" % pair for pair in HOST.items()), ""
        return 0, json.dumps([by_name[HOST[cid]] for cid in argv[3:]]), ""

    assert _adopt.read([], str(tmp_path), run) == ([], {})
    assert _adopt.read([], str(tmp_path), run, order=["web", "sidecar", "metrics"]) == ([], {})
    with pytest.raises(AdoptionError, match="'sidecar' joins the network namespace of 'web' but is listed before"):
        _adopt.read([], str(tmp_path), run, order=["sidecar", "web", "metrics"])


def test_read_lists_the_host_containers_once_for_adoption_and_sharers(tmp_path):
    docker = FakeDocker({NAME: MINIMAL}, {MINIMAL["Image"]: IMAGE})

    def run(argv):  # the sharers' one inspect of every container names them by id
        if argv[1:3] == ["container", "inspect"] and "--" not in argv:
            docker.calls.append(argv[1:])
            return 0, json.dumps([MINIMAL]), ""
        return docker(argv)

    entries, new = _adopt.read([NAME], str(tmp_path), run, order=[NAME])
    assert [item["name"] for item in entries] == [NAME] and list(new) == [NAME]
    assert [call[:2] for call in docker.calls].count(["ps", "-a"]) == 1
    docker.calls.clear()
    _adopt.read([NAME], str(tmp_path), run)
    assert [call[:2] for call in docker.calls].count(["ps", "-a"]) == 1
