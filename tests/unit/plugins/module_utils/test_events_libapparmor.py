"""The pure-Python AppArmor parser against AppArmor's own (libapparmor's ``parse_record``) on the same records.

Debian's python3-libapparmor installs ``LibAppArmor`` for the system Python; it is loaded from there into the test
interpreter (same CPython ABI) without putting the rest of dist-packages on ``sys.path``.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import sys

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _events
from ansible_collections.confine.docker.plugins.module_utils._events import Collector, LibAppArmorParser

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "events")
SYSTEM_PACKAGE = "/usr/lib/python3/dist-packages/LibAppArmor"

# Records beyond the fixtures: hex-encoded fields, old kernels (no capname), unusual families.
EXTRA = [
    'type=AVC msg=audit(1700000000.123:1): apparmor="ALLOWED" operation="open" profile=636F6E66696E652D61 '
    'name="/etc/x" pid=1 comm=7079 requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    'type=AVC msg=audit(1700000000.123:4): apparmor="DENIED" operation="create" profile="p" pid=5 comm="nc" '
    'family="packet" sock_type="raw" protocol=768 requested_mask="create" denied_mask="create"',
    'type=AVC msg=audit(1700000000.123:6): apparmor="DENIED" operation="capable" profile="p" pid=2 comm="x" '
    'capability=12  capname="net_admin"',
    'type=AVC msg=audit(1700000000.123:9): apparmor="ALLOWED" operation="rename_src" profile="p" '
    'name="/var/lib/app/x" pid=2 comm="app" requested_mask="wrd" denied_mask="wrd" fsuid=0 ouid=0',
    'type=AVC msg=audit(1700000000.123:13): apparmor="DENIED" operation="pivotroot" profile="p" name="/new/" pid=2 '
    'comm="pr" srcname="/old/"',
    'type=AVC msg=audit(1700000000.123:16): apparmor="DENIED" operation="exec" info="no new privs" error=-1 '
    'profile="p" name="/usr/bin/su" pid=1 comm="sh" requested_mask="x" denied_mask="x" fsuid=0 ouid=0 '
    'target="p//null-/usr/bin/su"',
    'type=AVC msg=audit(1700000000.123:17): apparmor="DENIED" operation="signal" profile="p" pid=2 comm="kill" '
    'requested_mask="receive" denied_mask="receive" signal=term peer="docker-default"',
    # Newer kernels add class="..." which libapparmor 3.0 does not know: the pure parser takes these.
    'type=AVC msg=audit(1700000000.123:18): apparmor="DENIED" operation="open" class="file" profile="p" '
    'name="/etc/x" pid=1 comm="a" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    'type=AVC msg=audit(1700000000.123:19): apparmor="DENIED" operation="sendmsg" class="net" info="failed af match" '
    'error=-13 profile="p" pid=2 comm="ping" laddr=10.0.0.2 lport=0 faddr=10.0.0.1 fport=0 family="inet" '
    'sock_type="raw" protocol=1 requested_mask="send" denied_mask="send"',
]


@pytest.fixture(scope="module")
def libapparmor(tmp_path_factory):
    if not os.path.isdir(SYSTEM_PACKAGE):
        pytest.skip("python3-libapparmor is not installed (%s)" % SYSTEM_PACKAGE)
    shim = tmp_path_factory.mktemp("libapparmor")
    os.symlink(SYSTEM_PACKAGE, str(shim / "LibAppArmor"))
    sys.path.insert(0, str(shim))
    try:
        module = importlib.import_module("LibAppArmor")
    except ImportError as exc:
        pytest.skip("LibAppArmor does not load in this interpreter: %s" % exc)
    finally:
        sys.path.remove(str(shim))
    return LibAppArmorParser(module)


def apparmor_records():
    """Every AppArmor access record in the fixtures and EXTRA, as split_record tuples."""
    lines = list(EXTRA)
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*"))):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("{"):
                    line = json.loads(line).get("MESSAGE", "")
                lines.append(line.rstrip("\n"))
    records = []
    for line in lines:
        record = _events.split_record(line)
        if record and _events.record_kind(record[0], record[4]) == "apparmor" and _events.parse_apparmor(record[4]):
            records.append(record)
    return records


RECORDS = apparmor_records()


def test_fixtures_have_records():
    assert len(RECORDS) >= 30


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: "%s:%d" % (r[0], r[3]))
def test_libapparmor_and_python_parser_agree(libapparmor, record):
    _rtype, sec, ms, serial, body = record
    ours = _events.parse_apparmor(body)
    theirs = libapparmor.parse(sec, ms, serial, body)
    if 'class="' in body:
        assert theirs is None  # libapparmor 3.0 cannot parse it; the pure-Python parser is used instead
        assert ours["class"] in ("file", "net")
        return
    assert theirs is not None, body
    assert theirs == {**ours, "class": None}


def test_collector_gives_the_same_events_with_either_parser(libapparmor):
    results = []
    for parser in (None, libapparmor):
        collector = Collector(libapparmor=parser)
        for path in sorted(glob.glob(os.path.join(FIXTURES, "*"))):
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    collector.feed_line(line.rstrip("\n"))
        for line in EXTRA:
            collector.feed_line(line)
        results.append(collector.result())
    pure, lib = results
    assert lib["stats"]["libapparmor"] > 20 and lib["stats"]["python"] == 2
    assert pure["stats"]["libapparmor"] == 0
    assert pure["apparmor"] == lib["apparmor"]
