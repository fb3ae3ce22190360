"""Generate an auditd log of a given size in the real record formats, about 1% of its lines relevant to collect.

Relevant lines are AppArmor ``type=AVC ... apparmor="ALLOWED"|"DENIED"`` and ``type=SECCOMP`` records (with
auditd's enriched ``\\x1d`` suffix); the rest are the records a busy host writes around them (SYSCALL, PATH, CWD,
PROCTITLE, EXECVE, USER_*, CRED_*, SERVICE_*, BPF, NETFILTER_CFG, EOE). Serial numbers and timestamps increase.

Usage: python3 bench/collect/generate.py PATH SIZE_MB [--append-percent P] [--relevant-percent R] [--seed N]
  --append-percent P  append P% of the file's current size instead of creating it (the incremental run's input).
"""

from __future__ import annotations

import argparse
import os
import random

GS = "\x1d"
PROFILES = ["confine-web", "confine-db", "confine-worker", "confine-cache"]
FILES = ["/var/lib/app/records.db", "/var/log/app/worker-%d.log", "/proc/%d/status", "/tmp/tmp%s",
         "/etc/shadow", "/run/app/app.sock", "/var/cache/app/%s.json", "/srv/data/%d/part.bin"]
SYSCALLS = [(272, "unshare"), (165, "mount"), (435, "clone3"), (250, "keyctl"), (321, "bpf"), (101, "ptrace"),
            (257, "openat"), (41, "socket")]
NOISE = [
    'type=SYSCALL msg=audit({ts}:{serial}): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c '
    'a1=7ffd5c1e2a10 a2=80000 a3=0 items=1 ppid={ppid} pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 '
    'egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="python3" exe="/usr/bin/python3.11" subj=unconfined '
    'key="confine-watch"' + GS + 'ARCH=x86_64 SYSCALL=openat AUID="admin" UID="root" GID="root" EUID="root" '
    'SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"',
    'type=CWD msg=audit({ts}:{serial}): cwd="/srv/app"',
    'type=PATH msg=audit({ts}:{serial}): item=0 name="/etc/ld.so.cache" inode={inode} dev=fe:00 mode=0100644 '
    'ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0' + GS +
    'OUID="root" OGID="root"',
    'type=PROCTITLE msg=audit({ts}:{serial}): proctitle=707974686F6E33002F7372762F6170702F6D61696E2E7079',
    'type=EXECVE msg=audit({ts}:{serial}): argc=3 a0="/usr/bin/python3" a1="-m" a2="app.worker"',
    'type=USER_ACCT msg=audit({ts}:{serial}): pid={pid} uid=0 auid=1000 ses=3 subj=unconfined '
    'msg=\'op=PAM:accounting grantors=pam_permit acct="root" exe="/usr/bin/sudo" hostname=? addr=? '
    'terminal=/dev/pts/0 res=success\'' + GS + 'UID="root" AUID="admin"',
    'type=CRED_ACQ msg=audit({ts}:{serial}): pid={pid} uid=0 auid=1000 ses=3 subj=unconfined '
    'msg=\'op=PAM:setcred grantors=pam_permit,pam_cap acct="root" exe="/usr/bin/sudo" hostname=? addr=? '
    'terminal=/dev/pts/0 res=success\'' + GS + 'UID="root" AUID="admin"',
    'type=SERVICE_START msg=audit({ts}:{serial}): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined '
    'msg=\'unit=docker-{hexid}.scope comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? '
    'terminal=? res=success\'' + GS + 'UID="root" AUID="unset"',
    'type=NETFILTER_CFG msg=audit({ts}:{serial}): table=nat:{inode} family=2 entries=12 op=xt_replace '
    'pid={pid} subj=unconfined comm="iptables"',
    'type=BPF msg=audit({ts}:{serial}): prog-id={ppid} op=LOAD',
    'type=EOE msg=audit({ts}:{serial}): ',
]


def avc(rng, ts, serial):
    profile = rng.choice(PROFILES)
    template = rng.choice(FILES)
    if "%d" in template:
        name = template % rng.randrange(1, 40000)
    elif "%s" in template:
        name = template % "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _index in range(8))
    else:
        name = template
    kind = rng.random()
    verdict = "ALLOWED" if rng.random() < 0.8 else "DENIED"
    if kind < 0.75:
        mask = rng.choice(["r", "w", "wc", "ac", "rw", "x", "rm"])
        return ('type=AVC msg=audit(%s:%d): apparmor="%s" operation="open" profile="%s" name="%s" pid=%d '
                'comm="python3" requested_mask="%s" denied_mask="%s" fsuid=0 ouid=0%sFSUID="root" OUID="root"'
                % (ts, serial, verdict, profile, name, rng.randrange(300, 60000), mask, mask, GS))
    if kind < 0.9:
        cap, number = rng.choice([("net_bind_service", 10), ("sys_admin", 21), ("chown", 0), ("net_raw", 13)])
        return ('type=AVC msg=audit(%s:%d): apparmor="%s" operation="capable" profile="%s" pid=%d comm="nginx" '
                'capability=%d  capname="%s"%sCAPABILITY="%s"' % (ts, serial, verdict, profile,
                                                                  rng.randrange(300, 60000), number, cap, GS, cap))
    return ('type=AVC msg=audit(%s:%d): apparmor="%s" operation="create" profile="%s" pid=%d comm="ping" '
            'family="inet" sock_type="raw" protocol=1 requested_mask="create" denied_mask="create"'
            % (ts, serial, verdict, profile, rng.randrange(300, 60000)))


def seccomp(rng, ts, serial):
    nr, name = rng.choice(SYSCALLS)
    profile = rng.choice(PROFILES)
    code = rng.choice(["0x7ffc0000", "0x50001", "0x80000000"])
    return ('type=SECCOMP msg=audit(%s:%d): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=%s (complain) pid=%d '
            'comm="%s" exe="/usr/bin/%s" sig=0 arch=c000003e syscall=%d compat=0 ip=0x7f3c1e2b5b57 code=%s%s'
            'AUID="unset" UID="root" GID="root" ARCH=x86_64 SYSCALL=%s'
            % (ts, serial, profile, rng.randrange(300, 60000), name, name, nr, code, GS, name))


def write(path, size, relevant, start_serial, start_time, rng, mode):
    serial = start_serial
    now = start_time
    written = 0
    lines = []
    pending = 0
    with open(path, mode, encoding="utf-8", newline="\n") as handle:
        while written + pending < size:
            serial += 1
            now += 0.0007
            ts = "%.3f" % now
            if rng.random() < relevant:
                line = avc(rng, ts, serial) if rng.random() < 0.7 else seccomp(rng, ts, serial)
            else:
                line = rng.choice(NOISE).format(ts=ts, serial=serial, pid=rng.randrange(300, 60000),
                                                ppid=rng.randrange(1, 300), inode=rng.randrange(10**5, 10**7),
                                                hexid="%064x" % rng.getrandbits(256))
            lines.append(line)
            pending += len(line) + 1
            if pending > 4 << 20:
                handle.write("\n".join(lines) + "\n")
                written += pending
                lines, pending = [], 0
        if lines:
            handle.write("\n".join(lines) + "\n")
            written += pending
    return serial, now


def last_stamp(path):
    with open(path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(path) - 8192))
        tail = handle.read().decode("utf-8", "replace").rstrip("\n").split("\n")[-1]
    stamp = tail.split("audit(", 1)[1].split(")", 1)[0]
    seconds, serial = stamp.split(":")
    return int(serial), float(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("size_mb", type=float)
    parser.add_argument("--append-percent", type=float)
    parser.add_argument("--relevant-percent", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    relevant = args.relevant_percent / 100.0
    if args.append_percent is not None:
        size = int(os.path.getsize(args.path) * args.append_percent / 100.0)
        serial, now = last_stamp(args.path)
        write(args.path, size, relevant, serial, now, random.Random(args.seed + 1), "a")
    else:
        write(args.path, int(args.size_mb * (1 << 20)), relevant, 1000, 1700000000.0, rng, "w")
    print(args.path, os.path.getsize(args.path))


if __name__ == "__main__":
    main()
