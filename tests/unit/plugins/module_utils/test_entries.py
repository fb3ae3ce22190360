"""Unit tests for _entries: container entries validated before anything is written."""

from __future__ import annotations

import pytest

from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, validate_entries


def test_valid_entries_give_their_names():
    assert validate_entries([{"name": "web", "image": "nginx"}, {"name": "db.primary_1-a", "image": "pg"}]) == [
        "web", "db.primary_1-a"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "../escape", "image": "x"}], "not a container name"),
        ([{"name": "a/b", "image": "x"}], "not a container name"),
        ([{"name": "a..b", "image": "x"}], "'..' is refused"),
        ([{"name": "web\n", "image": "x"}], "not a container name"),
        ([{"name": "-web", "image": "x"}], "not a container name"),
        ([{"name": "we b", "image": "x"}], "not a container name"),
        ([{"name": "", "image": "x"}], "needs a name"),
        ([{"image": "x"}], "needs a name"),
        ([{"name": 5, "image": "x"}], "needs a name"),
        ([{"name": "w" * 129, "image": "x"}], "longer than 128"),
        ([{"name": "web", "image": "x"}, {"name": "web", "image": "y"}], "more than once"),
        ([{"name": "web", "image": ""}], "image must be a non-empty string"),
        (["web"], "an entry is a mapping"),
        ({"name": "web"}, "must be a list"),
    ],
)
def test_bad_entries_are_refused(entries, message):
    with pytest.raises(EntryError, match=message):
        validate_entries(entries)


def test_profile_name_must_stay_valid_with_the_prefix():
    with pytest.raises(EntryError, match="profile name"):
        validate_entries([{"name": "w" * 120, "image": "x"}], prefix="p" * 90)
    with pytest.raises(EntryError, match="reserved"):
        validate_entries([{"name": "default", "image": "x"}], prefix="docker-")


def test_every_problem_is_reported_at_once():
    with pytest.raises(EntryError) as raised:
        validate_entries([{"name": "../a"}, {"name": "b/c"}])
    assert "confine_containers[0]" in str(raised.value) and "confine_containers[1]" in str(raised.value)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ({}, ["AUDIT_WRITE"]),
        ({"cap_drop": ["NET_RAW"]}, ["NET_RAW", "AUDIT_WRITE"]),
        ({"capabilities": ["AUDIT_WRITE"]}, []),
        ({"capabilities": ["cap_audit_write"]}, []),
        ({"cap_drop": ["ALL"]}, ["ALL"]),
        ({"cap_drop": ["CAP_AUDIT_WRITE"]}, ["CAP_AUDIT_WRITE"]),
        (None, ["AUDIT_WRITE"]),
    ],
)
def test_cap_drop_adds_audit_write_unless_kept(run, expected):
    from ansible_collections.confine.docker.plugins.module_utils._entries import cap_drop

    assert cap_drop({"name": "web", "run": run}) == expected
