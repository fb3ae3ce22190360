# Helpers shared by lab/vm/{start,stop,ssh,status}; sourced, never run.
# shellcheck shell=bash
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

VM_KEY=$LAB_CACHE/vm/id_ed25519
VM_DIR=$LAB_STATE/vms
# The Debian suites a lab VM can run (the lab images stay bookworm userlands in both: lib.sh's LAB_SUITE).
VM_SUITES=(bookworm trixie)
# The suite(s) lab/vm/build and lab/vm/start use unless --suite says otherwise; a comma list gives VM i suite i.
VM_SUITE_DEFAULT=${CONFINE_LAB_SUITE:-bookworm}
SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes
    -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=15 -i "$VM_KEY")

vm_names() { # every VM with a state dir, in order
    [ -d "$VM_DIR" ] || return 0
    find "$VM_DIR" -mindepth 1 -maxdepth 1 -type d -name 'confine-vm-*' -printf '%f\n' | sort -t- -k3 -n
}

vm_pid() { # NAME -> pid of its running qemu (exit 1 when not running)
    local pidfile=$VM_DIR/$1/qemu.pid pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "qemu-system-x86_64 .*-name $1 " ||
        return 1
    printf '%s\n' "$pid"
}

vm_port() { cat "$VM_DIR/$1/ssh.port"; }

vm_suite() { # NAME -> the suite the VM was started from (bookworm for state dirs older than the suite choice)
    cat "$VM_DIR/$1/suite" 2>/dev/null || printf 'bookworm\n'
}

check_suite() { # SUITE: die unless the lab knows how to build a VM of it
    [[ " ${VM_SUITES[*]} " == *" $1 "* ]] || die "unknown suite '$1' (the lab builds: ${VM_SUITES[*]})"
}

# vm_packages SUITE -> the packages debootstrap includes in a VM root of that suite. Since trixie the Docker CLI is
# its own package (docker-cli; docker.io is the daemon) and docker-compose is the v2 CLI plugin.
vm_packages() {
    local common=systemd-sysv,udev,dbus,libnss-myhostname,linux-image-amd64,apparmor,openssh-server,python3
    common=$common,python3-requests,python3-docker,docker.io,iproute2,auditd,kmod,ca-certificates,procps,curl
    case "$1" in
        bookworm) printf '%s\n' "$common" ;;
        trixie) printf '%s\n' "$common,docker-cli,docker-compose" ;;
        *) die "no package list for suite '$1'" ;;
    esac
}

# image_file IMAGE -> a file name (no directory part) for the image's tarball: the whole reference with every
# character other than letters, digits, '.', '_' and '-' replaced by '_' (confine-lab/base:bookworm ->
# confine-lab_base_bookworm), so any reference gives a distinct, valid name.
image_file() {
    printf '%s\n' "$1" | sed 's/[^A-Za-z0-9._-]/_/g'
}

# in_use DIR: true when a running process has a file under DIR open (a VM's qemu keeps the base disk open through
# its overlay's backing file) or runs from it.
in_use() {
    local dir fd target
    dir=$(readlink -f "$1")
    for fd in /proc/[0-9]*/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        case "$target" in "$dir"/*) return 0 ;; esac
    done
    return 1
}

vm_ssh() { # NAME CMD... (CMD is one remote shell command line)
    local name=$1
    shift
    port_ssh "$(vm_port "$name")" "$@"
}

port_ssh() { # PORT CMD...
    local port=$1
    shift
    ssh "${SSH_OPTS[@]}" -p "$port" root@127.0.0.1 "$@"
}

# qemu_launch NAME DISK FORMAT BOOTDIR RUNDIR PORT: boot DISK (kernel and initrd from BOOTDIR) daemonised under TCG,
# SSH forwarded from 127.0.0.1:PORT, serial log, pidfile and monitor socket in RUNDIR. A kernel oops panics the guest
# and a panic ends qemu (`oops=panic panic=-1`, `-no-reboot`), so a crashed VM shows as gone at once instead of
# hanging: under multi-threaded TCG the guest kernel's live code patching (static keys) now and then trips over a
# stale translation (`Oops: int3`, seen with Debian 13's 6.12 at boot).
qemu_launch() {
    local name=$1 disk=$2 format=$3 boot=$4 run=$5 port=$6
    now >"$run/started"
    : >"$run/serial.log"
    qemu-system-x86_64 -name "$name" \
        -accel tcg,thread=multi -smp "${CONFINE_LAB_VM_CPUS:-2}" -m "${CONFINE_LAB_VM_MEMORY:-2048}" \
        -kernel "$boot/vmlinuz" -initrd "$boot/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0,115200 systemd.hostname=$name mitigations=off oops=panic panic=-1" \
        -no-reboot \
        -drive "file=$disk,if=virtio,format=$format,cache=unsafe,discard=unmap" \
        -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=net0 \
        -device virtio-rng-pci \
        -display none -serial "file:$run/serial.log" -monitor "unix:$run/monitor.sock,server,nowait" \
        -daemonize -pidfile "$run/qemu.pid"
}

# wait_ssh_port PORT RUNDIR TIMEOUT LABEL: wait until SSH answers; return 2 when the guest kernel panicked (qemu
# exits then), fail when qemu exits otherwise or TIMEOUT passes
wait_ssh_port() {
    local port=$1 run=$2 timeout=$3 label=$4 t0 pid
    t0=$(cat "$run/started")
    pid=$(cat "$run/qemu.pid")
    while ! port_ssh "$port" true 2>/dev/null; do
        if [ ! -d "/proc/$pid" ]; then
            if grep -q "Kernel panic" "$run/serial.log"; then
                grep -m1 -A3 -E "Oops|BUG:|Kernel panic" "$run/serial.log" >&2 || true
                log "$label: the guest kernel panicked while booting (serial log: $run/serial.log)"
                return 2
            fi
            tail -n 20 "$run/serial.log" >&2
            die "$label: qemu exited (serial log: $run/serial.log)"
        fi
        if [ "$(elapsed "$t0" | cut -d. -f1)" -ge "$timeout" ]; then
            tail -n 20 "$run/serial.log" >&2
            die "$label: no SSH after $timeout s (serial log: $run/serial.log)"
        fi
        sleep 1
    done
    log "$label: boot to SSH $(elapsed "$t0") s"
}

# Boots that end in a guest kernel panic are tried again this many times (see qemu_launch).
BOOT_ATTEMPTS=3

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_inventory() { # inventory.yml and ssh_config for every running VM
    local name port inv=$LAB_STATE/inventory.yml cfg=$LAB_STATE/ssh_config hosts=""
    mkdir -p "$LAB_STATE"
    : >"$cfg.tmp"
    for name in $(vm_names); do
        vm_pid "$name" >/dev/null || continue
        port=$(vm_port "$name")
        hosts+="        $name:
          ansible_port: $port
          confine_lab_suite: $(vm_suite "$name")
"
        cat >>"$cfg.tmp" <<CFG
Host $name
    HostName 127.0.0.1
    Port $port
    User root
    IdentityFile $VM_KEY
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR

CFG
    done
    {
        printf '%s\n' "# Written by lab/vm/start: the running lab VMs." "all:" "  children:" "    confine_lab:" \
            "      vars:" "        ansible_host: 127.0.0.1" "        ansible_user: root" \
            "        ansible_ssh_private_key_file: $VM_KEY" "        ansible_python_interpreter: /usr/bin/python3" \
            "        ansible_ssh_common_args: >-" \
            "          -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR"
        if [ -z "$hosts" ]; then
            printf '      hosts: {}\n'
        else
            printf '      hosts:\n%s' "$hosts"
        fi
    } >"$inv.tmp"
    mv "$cfg.tmp" "$cfg"
    mv "$inv.tmp" "$inv"
}
