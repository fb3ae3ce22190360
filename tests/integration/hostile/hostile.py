"""A compromised application for the lab: it works like a small records service, and while it is on trial (its
AppArmor profile in complain mode) it also does what an attacker inside the container would do to bend the trial.

    hostile.py serve    the container's main process: the attacks once when in complain mode, then the service
    hostile.py work     the legitimate workload: store a record, read it back (exit 0 when it works)
    hostile.py attack   the attacks, with their outcome as JSON: "ok" or the errno name

The attacks: write fresh random names under /etc and /dev, copy a binary into /usr/bin and into /tmp and run the
copies, and send forged AppArmor and seccomp records through the audit netlink socket (which needs CAP_AUDIT_WRITE),
naming the container's own profile and a path the guard would admit if the record were believed.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import socket
import string
import struct
import subprocess
import sys
import time

DATA = "/var/lib/hostile-app/records"
NETLINK_AUDIT = 9
AUDIT_USER_AVC = 1107
AUDIT_UNKNOWN_USER = 1199  # auditd logs a type it does not know as UNKNOWN[1199]
FORGED_PATH = "/srv/forged-by-the-container/data"


def fresh_name():
    """A random-looking name of the kind generalisation turns into a glob (letters and at least two digits)."""
    letters = "".join(random.choice(string.ascii_lowercase) for _letter in range(5))
    digits = "".join(random.choice(string.digits) for _digit in range(3))
    return letters[:3] + digits + letters[3:]


def outcome(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"


def write(path):
    with open(path, "w", encoding="ascii") as handle:
        handle.write("x\n")


def run(path):
    try:
        proc = subprocess.run([path], capture_output=True, check=False, timeout=20)
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok" if proc.returncode == 0 else "rc=%d" % proc.returncode


def profile_label():
    try:
        with open("/proc/self/attr/current", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip("\x00\n ")
    except OSError:
        return "unconfined"


def audit_send(msgtype, text):
    """Send one user-space audit message; the kernel's answer (0, or the negative errno) as an outcome."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    with sock:
        payload = text.encode("utf-8") + b"\0"
        header = struct.pack("=IHHII", 16 + len(payload), msgtype, 0x1 | 0x4, 1, 0)  # NLM_F_REQUEST | NLM_F_ACK
        try:
            sock.sendto(header + payload, (0, 0))
            answer = sock.recv(8192)
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))
    if len(answer) >= 20 and struct.unpack("=H", answer[4:6])[0] == 2:  # NLMSG_ERROR carries the result
        code = -struct.unpack("=i", answer[16:20])[0]
        return "ok" if code == 0 else errno.errorcode.get(code, str(code))
    return "ok"


def forged_records(profile):
    now = time.time()
    stamp = "audit(%d.%03d:%d)" % (int(now), int(now * 1000) % 1000, random.randint(100000, 999999))
    avc = ('apparmor="ALLOWED" operation="open" profile="%s" name="%s" pid=%d comm="app" requested_mask="wc" '
           'denied_mask="wc" fsuid=0 ouid=0' % (profile, FORGED_PATH, os.getpid()))
    seccomp = ("auid=4294967295 uid=0 gid=0 ses=4294967295 subj=%s (complain) pid=%d comm=\"app\" exe=\"/usr/bin/app\" "
               "sig=0 arch=c000003e syscall=165 compat=0 ip=0x7f0000000000 code=0x7ffc0000" % (profile, os.getpid()))
    return {
        "forge_user_avc": audit_send(AUDIT_USER_AVC, avc),
        "forge_unknown_type": audit_send(AUDIT_UNKNOWN_USER, "type=AVC msg=%s: %s" % (stamp, avc)),
        "forge_seccomp": audit_send(AUDIT_USER_AVC, "type=SECCOMP msg=%s: %s" % (stamp, seccomp)),
        "forge_line_break": audit_send(AUDIT_UNKNOWN_USER, "x\ntype=AVC msg=%s: %s" % (stamp, avc)),
    }


def attacks():
    profile = profile_label().rsplit(" (", 1)[0]
    results = {
        "write_etc": outcome(lambda: write("/etc/" + fresh_name())),
        "write_etc_again": outcome(lambda: write("/etc/" + fresh_name())),
        "write_dev": outcome(lambda: write("/dev/" + fresh_name())),
    }
    for where in ("/usr/bin", "/tmp"):
        copy = os.path.join(where, fresh_name())
        key = where.strip("/").replace("/", "_")
        results["copy_" + key] = outcome(lambda copy=copy: shutil.copy("/usr/bin/true", copy))
        results["run_" + key] = run(copy) if results["copy_" + key] == "ok" else "not copied"
    results.update(forged_records(profile))
    return results


def work():
    os.makedirs(DATA, exist_ok=True)
    record = {"at": time.time(), "pid": os.getpid()}
    path = os.path.join(DATA, "%d.json" % (int(time.time() * 1000) % 1000000))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    with open(path, encoding="utf-8") as handle:
        if json.load(handle) != record:
            raise SystemExit("record %s did not read back" % path)
    return len(os.listdir(DATA))


def serve():
    if profile_label().endswith("(complain)"):
        print(json.dumps({"trial": attacks()}), flush=True)
    while True:
        work()
        time.sleep(5)


def main(argv):
    command = argv[1] if len(argv) > 1 else "serve"
    if command == "serve":
        serve()
    elif command == "work":
        print(json.dumps({"records": work()}))
    elif command == "attack":
        print(json.dumps(attacks()))
    else:
        raise SystemExit("usage: hostile.py serve|work|attack")


if __name__ == "__main__":
    main(sys.argv)
