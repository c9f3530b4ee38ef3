#!/usr/bin/env bash
# Appliance image test: build (or reuse) the image, boot two clones of it under QEMU, one with
# legacy BIOS firmware (SeaBIOS) and its disk on virtio-scsi (Proxmox VE's defaults), one with
# UEFI firmware (OVMF) and its disk on virtio-blk (libvirt's and OpenStack's), and check from
# outside that it works.
#
#   1. scripts/build-image --if-changed (reuses an image built from the same inputs); the
#      stats-credentials script of the image, run on the host against copies of ringlb.toml
#   2. two HTTP backends on the host (127.0.0.1; the guest sees them at 10.0.2.2)
#   3. clone A, SeaBIOS, virtio-scsi: qcow2 overlay (2 GiB) + config drive (ringlb.toml
#      balancing to both backends, with [stats] without users, an admin socket and an [ha]
#      section; authorized_keys); waits for HTTP through the forwarded port (boot-to-serving
#      time), then checks: GRUB booted it, its root is on the virtio-scsi disk; both backends
#      get requests; the stats page wants the clone's generated credentials (from the serial
#      console: 401 without or with wrong ones, 200 with them) and lists both servers; SSH
#      refuses passwords; over SSH (key from the config
#      drive): no account has a password, sshd allows keys only, the credentials file is root's
#      only, sysctls applied, ringlb runs as user
#      ringlb with no effective capabilities, the guest's ringlb is target/release/ringlb,
#      keepalived.conf was rendered from [ha] and keepalived holds the virtual address,
#      `ringlb ha check` passes; `systemctl reload ringlb` 5 times (two configs in turn)
#      while the host sends requests without a pause: no request may fail; kTLS: the tls
#      module is loaded, a TLS listener added by a reload serves TLS 1.3 and 1.2, 500 idle
#      keep-alive TLS connections (RSS figure, after a restart of ringlb), a 64 MiB
#      download over it is intact (sha256), Prometheus counts every TLS session on kTLS and
#      /proc/net/tls_stat shows kernel TLS in both directions; the root file system grew to
#      fill the disk; server b put in maintenance over the admin socket stays in maintenance
#      after `ringlb upgrade` and after a reboot (poweroff, then the same disk boots again)
#   4. clone B, OVMF, virtio-blk: another overlay of the same image, config drive with a *bad*
#      ringlb.toml: UEFI booted it, its root is on the virtio-blk disk; the rejection is
#      reported on the serial console, the default placeholder page (ringlb's own answer to any
#      request) and the default stats page
#      serve (401 without credentials, 200 with B's own, 401 with A's), reload and `ringlb ha
#      check` work with the default config; A and B have different machine-ids, SSH host
#      keys, hostnames (ringlb-<machine-id>) and stats credentials.
#      In B's boot too: the IPVS tier of docs/ha.md (test_ipvs_tier), in network namespaces in
#      the guest: a keepalived director (rendered by `ringlb ha render`) in front of 3 ringlb
#      hosts by direct routing; spread over all, and a stopped one's share moved within 3 s.
#
# Each boot is bounded (RINGLB_IMAGE_BOOT_TIMEOUT, default 300 s) and retried once; the whole
# run is bounded by RINGLB_IMAGE_TEST_TIMEOUT (default 2400 s, image build included).
# RINGLB_IMAGE_BOOT_ONLY=1 stops after the two boots and their figures.
# Exit status: 0 pass (or skipped: the host cannot build/boot images; a SKIP banner says why,
# and RINGLB_IMAGE_TEST_REQUIRED=1 turns a skip into a failure), 1 failure.
# Logs (serial consoles, backend logs) stay in target/image/test-* when the test fails.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly REPO
readonly OUT=$REPO/target/image
readonly IMAGE=$OUT/ringlb-appliance.qcow2
readonly BOOT_TIMEOUT=${RINGLB_IMAGE_BOOT_TIMEOUT:-300}
readonly TEST_TIMEOUT=${RINGLB_IMAGE_TEST_TIMEOUT:-2400}
# RINGLB_IMAGE_BOOT_ONLY=1: boot both clones, check the firmware that booted each, print the
# boot figures, and skip every other check (to measure a change to the boot path).
readonly BOOT_ONLY=${RINGLB_IMAGE_BOOT_ONLY:-0}
# The guest's network interface: run-appliance's virtio-net-pci is PCI slot 1 of the q35
# machine, named enp0s1 by udev. [ha] in clone A's ringlb.toml names it.
readonly GUEST_NIC=enp0s1
readonly VIP=10.0.2.100
# The TLS listener the kTLS check adds by a reload: above 1024, since the running ringlb keeps
# no capability to bind a new low port (keep_bind_capability is off in the appliance).
readonly GUEST_TLS_PORT=8443
# Idle keep-alive TLS connections held open to measure what one costs ringlb under kTLS.
readonly IDLE_TLS=500
readonly RELOADS=5
readonly LOAD_CLIENTS=4
readonly SYSCTLS=(
    net.core.somaxconn=65535
    net.ipv4.tcp_max_syn_backlog=65535
    net.ipv4.tcp_syncookies=1
    net.ipv4.tcp_tw_reuse=1
    net.ipv4.tcp_migrate_req=1
    net.core.netdev_max_backlog=16384
    fs.nr_open=2097152
)

WORK=""
ACCEL=""
# Extra run-appliance arguments for the next boot (the reboot of clone A's own disk).
BOOT_EXTRA=()
BOOT_STATE=""
RELOAD_FIGURE="(reload test did not run)"
UPGRADE_FIGURE="(package upgrade test did not run)"
KTLS_FIGURE="(kTLS test did not run)"
KTLS_IDLE_FIGURE="(kTLS idle test did not run)"
FAILED=0
PIDS=()
T0=$(date +%s)

say() { echo "[image-test +$(( $(date +%s) - T0 ))s] $*"; }
pass() { say "PASS: $*"; }
fail() { say "FAIL: $*"; FAILED=1; }
die() { say "FAIL: $*"; exit 1; }

skip() {
    echo "========================================================================"
    echo "SKIP tests/image/run.sh: $*"
    echo "========================================================================"
    if [[ ${RINGLB_IMAGE_TEST_REQUIRED:-0} == 1 ]]; then exit 1; fi
    exit 0
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n $WORK && -d $WORK ]]; then
        if (( rc == 0 && FAILED == 0 )); then rm -rf "$WORK"
        else say "logs kept in $WORK"; fi
    fi
    exit "$rc"
}

preflight() {
    (( EUID == 0 )) || skip "needs root (debootstrap, chroot)"
    local tool missing=()
    for tool in qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 mkfs.vfat mcopy sfdisk grub-mkimage \
        zstd curl ssh ssh-keygen ssh-keyscan python3 perl flock objcopy openssl sha256sum mksquashfs cpio xz; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [[ -f /usr/lib/systemd/boot/efi/systemd-bootx64.efi ]] || missing+=(systemd-boot-efi)
    [[ -f /usr/lib/grub/i386-pc/boot.img ]] || missing+=(grub-pc-bin)
    [[ -f /usr/share/OVMF/OVMF_CODE_4M.fd || -f /usr/share/OVMF/OVMF_CODE.fd ]] || missing+=(ovmf)
    [[ -f /usr/share/seabios/bios-256k.bin ]] || missing+=(seabios)
    (( ${#missing[@]} == 0 )) || skip "missing on this host: ${missing[*]}
  install: apt-get install debootstrap mtools dosfstools e2fsprogs qemu-utils fdisk systemd-boot-efi grub-pc-bin ovmf seabios qemu-system-x86 zstd curl openssh-client squashfs-tools cpio xz-utils"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_backend() {
    local name=$1 port=$2 dir=$WORK/backend-$1
    mkdir -p "$dir"
    echo "backend-$name" > "$dir/index.html"
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" > "$WORK/backend-$name.log" 2>&1 &
    PIDS+=($!)
    local i
    for (( i = 0; i < 50; i++ )); do
        curl -fs -m 2 "http://127.0.0.1:$port/" >/dev/null && return 0
        sleep 0.2
    done
    die "backend $name did not start on 127.0.0.1:$port"
}

ssh_vm() {
    local port=$1; shift
    ssh -q -i "$WORK/id_ed25519" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 root@127.0.0.1 "$@"
}

# boot NAME FIRMWARE BUS CONFIG_DIR EXPECT: boot a fresh overlay with FIRMWARE (bios or uefi),
# the disk on controller BUS (virtio-blk, virtio-scsi or sata: run-appliance --disk-bus); wait
# until http://127.0.0.1:HTTP_PORT/ answers with a body containing EXPECT. Retries once.
# Sets VM_PID, HTTP_PORT, STATS_PORT, SSH_PORT, SERIAL, BOOT_SECONDS, STATS_AUTH (the stats
# credentials the clone generated, from its serial console).
boot() {
    local name=$1 firmware=$2 bus=$3 cfg=$4 expect=$5 attempt
    for attempt in 1 2; do
        if boot_once "$name-$attempt" "$firmware" "$bus" "$cfg" "$expect"; then return 0; fi
        say "boot of $name failed (attempt $attempt); last serial lines:"
        tail -n 15 "$SERIAL" 2>/dev/null | sed 's/^/    | /' || true
        stop_vm
    done
    die "$name never served HTTP"
}

boot_once() {
    local name=$1 firmware=$2 bus=$3 cfg=$4 expect=$5 state=$WORK/$1 start start_ns now body="" last=0
    mkdir -p "$state"
    HTTP_PORT=$(free_port)
    STATS_PORT=$(free_port)
    while [[ $STATS_PORT == "$HTTP_PORT" ]]; do STATS_PORT=$(free_port); done
    SSH_PORT=$(free_port)
    while [[ $SSH_PORT == "$HTTP_PORT" || $SSH_PORT == "$STATS_PORT" ]]; do SSH_PORT=$(free_port); done
    HTTPS_PORT=$(free_port)
    while [[ $HTTPS_PORT == "$HTTP_PORT" || $HTTPS_PORT == "$STATS_PORT" || $HTTPS_PORT == "$SSH_PORT" ]]; do HTTPS_PORT=$(free_port); done
    SERIAL=$state/serial.log
    say "booting $name ($firmware, $bus disk, $ACCEL): http 127.0.0.1:$HTTP_PORT, stats 127.0.0.1:$STATS_PORT, ssh 127.0.0.1:$SSH_PORT, serial $SERIAL"
    start=$(date +%s)
    start_ns=$(date +%s%N)
    "$REPO/scripts/run-appliance" --image "$IMAGE" --firmware "$firmware" --disk-bus "$bus" --accel "$ACCEL" --state-dir "$state" \
        --config-drive "$cfg" --disk-size 2G --http-port "$HTTP_PORT" --stats-port "$STATS_PORT" \
        --ssh-port "$SSH_PORT" --forward "$HTTPS_PORT:$GUEST_TLS_PORT" --serial "$SERIAL" --no-reboot \
        "${BOOT_EXTRA[@]}" > "$state/qemu.log" 2>&1 &
    VM_PID=$!
    PIDS+=("$VM_PID")
    while :; do
        now=$(date +%s)
        if ! kill -0 "$VM_PID" 2>/dev/null; then
            say "QEMU exited: $(tail -n 3 "$state/qemu.log" | tr '\n' ' ')"
            return 1
        fi
        if (( now - start > BOOT_TIMEOUT )); then
            say "not serving after ${BOOT_TIMEOUT}s"
            return 1
        fi
        body=$(curl -s -m 5 "http://127.0.0.1:$HTTP_PORT/" 2>/dev/null || true)
        if [[ $body == *"$expect"* ]]; then
            BOOT_SECONDS=$(awk -v a="$start_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
            BOOT_STATE=$state
            # QEMU's CPU time so far (run-appliance execs QEMU: same process): unlike the wall
            # time, it hardly depends on what else the host is running.
            BOOT_CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$VM_PID/stat" 2>/dev/null || echo "?")
            say "$name serves HTTP after ${BOOT_SECONDS}s (QEMU start to first good response, $firmware, $bus disk; QEMU used ${BOOT_CPU}s of CPU)"
            # Printed on the console before ringlb starts, so it is there by now.
            STATS_AUTH=$(grep -a 'ringlb-stats-credentials: stats page (port 8404) user ' "$SERIAL" | tail -n1 \
                | sed -n 's/.* user \([A-Za-z0-9._-]*\) password \([A-Za-z0-9]*\) .*/\1:\2/p')
            return 0
        fi
        if grep -qa 'Kernel panic\|BUG: \|Oops' "$SERIAL" 2>/dev/null; then
            say "guest kernel crashed"
            return 1
        fi
        if (( now - last >= 20 )); then
            last=$now
            say "  waiting for $name ($(( now - start ))s): $(tail -n 1 "$SERIAL" 2>/dev/null | tr -cd '[:print:]' | sed 's/\[[0-9;]*m//g' | cut -c1-100)"
        fi
        # Every half second: the figure is the boot's, not the poll's (with 3 s between tries
        # it came out up to 3 s late, with the guest's CPU seconds of those 3 s).
        sleep 0.5
    done
}

stop_vm() {
    if [[ -n ${VM_PID:-} ]]; then
        kill "$VM_PID" 2>/dev/null || true
        wait "$VM_PID" 2>/dev/null || true
        VM_PID=""
    fi
}

wait_ssh() {
    local port=$1 i
    for (( i = 0; i < 30; i++ )); do
        ssh_vm "$port" true 2>/dev/null && return 0
        sleep 3
    done
    return 1
}

# identity PORT: "machine-id hostname ed25519-fingerprint"
identity() {
    local port=$1 mid host fp
    mid=$(ssh_vm "$port" cat /etc/machine-id)
    host=$(ssh_vm "$port" cat /proc/sys/kernel/hostname)
    fp=$(ssh-keyscan -T 10 -t ed25519 -p "$port" 127.0.0.1 2>/dev/null | ssh-keygen -lf - | awk '{ print $2 }')
    echo "$mid $host $fp"
}

check_identity() {
    local name=$1 mid=$2 host=$3 fp=$4
    if [[ $mid =~ ^[0-9a-f]{32}$ ]]; then pass "$name machine-id $mid"
    else fail "$name machine-id is '$mid'"; fi
    if [[ $host == "ringlb-${mid:0:8}" ]]; then pass "$name hostname $host"
    else fail "$name hostname '$host' is not ringlb-${mid:0:8}"; fi
    if [[ $fp == SHA256:* ]]; then pass "$name SSH host key $fp"
    else fail "$name has no ed25519 SSH host key"; fi
}

differ() {
    if [[ -n $2 && $2 != "$3" ]]; then pass "clones have different $1 ($2, $3)"
    else fail "clones share $1: '$2' '$3'"; fi
}

# config_a WEIGHT_OF_A BALANCE: clone A's ringlb.toml (both backends, stats, admin socket, [ha]).
config_a() {
    cat <<EOT
# ringlb.toml of the image test's clone A (tests/image/run.sh): weight of a = $1, $2.
[global]
admin_socket = "/run/ringlb/admin.sock"

[stats]
bind = "0.0.0.0:8404"
uri = "/"
realm = "ringlb image test"

[frontend.www]
bind = "0.0.0.0:80"
default_backend = "hosts"

[backend.hosts]
balance = "$2"

[[backend.hosts.server]]
name = "a"
address = "10.0.2.2:$PORT_A"
weight = $1

[[backend.hosts.server]]
name = "b"
address = "10.0.2.2:$PORT_B"

[ha]
interface = "$GUEST_NIC"
virtual_ips = ["$VIP/24"]
router_id = 51
priority = 150
EOT
}

# The host-side load of the reload test: CLIENTS threads, each sending GET / on a new
# connection, one after the other, until STOP_FILE exists or LIMIT seconds passed. A request
# fails unless it gets a 200 with a backend's page within 10 s. Prints "requests failed secs".
write_load_client() {
    cat > "$WORK/load.py" <<'EOT'
import http.client, os, sys, threading, time
host, port, stop, limit, clients = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
count = {"n": 0, "failed": 0}
errors = []
end = time.monotonic() + limit
def client():
    while time.monotonic() < end and not os.path.exists(stop):
        err = None
        try:
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/", headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status != 200 or not body.startswith(b"backend-"):
                err = "HTTP %d %r" % (r.status, body[:60])
        except Exception as e:
            err = "%s: %s" % (type(e).__name__, e)
        with lock:
            count["n"] += 1
            if err:
                count["failed"] += 1
                if len(errors) < 5:
                    errors.append("%.2fs %s" % (time.monotonic() - t0, err))
t0 = time.monotonic()
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
for e in errors: print("failed request at", e, file=sys.stderr)
print(count["n"], count["failed"], "%.1f" % (time.monotonic() - t0))
EOT
}

# count_backends N: N requests through the appliance's port 80; prints how many backend a and
# how many backend b answered.
count_backends() {
    local i body a=0 b=0
    for (( i = 0; i < $1; i++ )); do
        body=$(curl -s -m 10 "http://127.0.0.1:$HTTP_PORT/" || true)
        case "$body" in
            backend-a*) a=$((a + 1)) ;;
            backend-b*) b=$((b + 1)) ;;
        esac
    done
    echo "$a $b"
}

# stats_csv_field BACKEND SERVER FIELD: one field of the stats page's CSV (HAProxy's columns:
# 19 = weight, 74 = addr, 77 = algo).
stats_csv_field() {
    curl -s -m 10 -u "$STATS_AUTH" "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, -v b="$1" -v s="$2" -v f="$3" '$1 == b && $2 == s { print $f }'
}

# stats_status [USER:PASSWORD]: the HTTP status of the stats page (without credentials if none).
stats_status() {
    curl -s -m 10 -o /dev/null -w '%{http_code}' ${1:+-u "$1"} "http://127.0.0.1:$STATS_PORT/" || true
}

# check_stats_auth NAME: the stats page requires the credentials the clone generated on its
# first boot and showed on its serial console.
check_stats_auth() {
    local name=$1 none wrong good
    if [[ $STATS_AUTH =~ ^admin:[A-Za-z0-9]{24}$ ]]; then
        pass "$name generated stats credentials on first boot, shown on the console: user admin, a password of 24 letters and digits"
    else
        fail "$name: no generated stats credentials on the serial console ('$STATS_AUTH')"
    fi
    none=$(stats_status)
    wrong=$(stats_status "admin:wrong-${STATS_AUTH#*:}")
    good=$(stats_status "$STATS_AUTH")
    if [[ $none == 401 && $wrong == 401 && $good == 200 ]]; then
        pass "$name stats page: 401 without credentials, 401 with a wrong password, 200 with the generated credentials"
    else
        fail "$name stats page: $none without credentials, $wrong with a wrong password, $good with the generated credentials (want 401, 401, 200)"
    fi
}

# check_firmware NAME FIRMWARE BUS: which firmware and boot loader ran: GRUB's line on the
# serial console (BIOS), the kernel's EFI line in its log (the console is quiet: read over
# SSH); and which controller the root image's partition (/rom) is on (its sysfs path).
check_firmware() {
    local name=$1 firmware=$2 bus=$3 grub efi kernel_efi out src path got
    grub=$(grep -ac 'ringlb appliance: BIOS boot (GRUB i386-pc)' "$SERIAL" || true)
    wait_ssh "$SSH_PORT" || true
    # shellcheck disable=SC2016 # expanded in the guest
    out=$(ssh_vm "$SSH_PORT" 'dmesg | grep -a "efi: EFI v[0-9]" | head -n1
        src=$(findmnt -no SOURCE /rom); echo "root $src $(readlink -f "/sys/class/block/${src#/dev/}")"' 2>/dev/null || true)
    kernel_efi=$(grep -v '^root ' <<<"$out" | tr -cd '[:print:]' | sed 's/^\[[^]]*\] //' || true)
    efi=0
    [[ -n $kernel_efi ]] && efi=1
    if [[ $firmware == bios ]] && (( grub == 1 && efi == 0 )); then
        pass "$name booted by SeaBIOS: GRUB's core image from the BIOS boot partition loaded the kernel (no EFI)"
    elif [[ $firmware == uefi ]] && (( grub == 0 && efi == 1 )); then
        pass "$name booted by OVMF: systemd-boot loaded the kernel (kernel: $kernel_efi)"
    else
        fail "$name ($firmware): serial console shows $grub GRUB BIOS boot lines, kernel log $efi EFI lines"
    fi
    read -r _ src path <<<"$(grep '^root ' <<<"$out" || true)"
    case "$path" in
        */virtio*/host*/block/sd*) got=virtio-scsi ;;
        */virtio*/block/vd*) got=virtio-blk ;;
        */ata*/block/sd*) got=sata ;;
        *) got="unknown" ;;
    esac
    if [[ $got == "$bus" ]]; then pass "$name's root image $src is on its $bus disk ($path)"
    else fail "$name's root image is '$src' on '$path' ($got), expected a $bus disk"; fi
}

check_stats_page() {
    local page csv
    page=$(curl -s -m 10 -u "$STATS_AUTH" -w '\nHTTP %{http_code}' "http://127.0.0.1:$STATS_PORT/" || true)
    if [[ $page == *"HTTP 200" && $page == *"10.0.2.2:$PORT_A"* && $page == *"10.0.2.2:$PORT_B"* ]]; then
        pass "stats page answers through the forwarded port (guest 8404 -> 127.0.0.1:$STATS_PORT) and lists both servers"
    else
        fail "stats page on 127.0.0.1:$STATS_PORT: $(tail -n1 <<<"$page"), servers 10.0.2.2:$PORT_A / 10.0.2.2:$PORT_B not both listed"
    fi
    csv=$(curl -s -m 10 -u "$STATS_AUTH" "http://127.0.0.1:$STATS_PORT/;csv" || true)
    if grep -q "^hosts,a,.*,10.0.2.2:$PORT_A," <<<"$csv" && grep -q "^hosts,b,.*,10.0.2.2:$PORT_B," <<<"$csv"; then
        pass "stats CSV: hosts/a $(awk -F, '$1 == "hosts" && $2 == "a" { print $18 ", " $8 " sessions" }' <<<"$csv"); hosts/b $(awk -F, '$1 == "hosts" && $2 == "b" { print $18 ", " $8 " sessions" }' <<<"$csv")"
    else
        fail "stats CSV lacks the rows of servers hosts/a and hosts/b"
    fi
}

# ringlb.service's main process and each of its threads: user ringlb, no effective capability.
# (MainPID rather than pidof: keepalived runs `ringlb ha check` every second.)
check_privileges() {
    local out
    # shellcheck disable=SC2016 # expanded in the guest
    out=$(ssh_vm "$SSH_PORT" 'pid=$(systemctl show -p MainPID --value ringlb.service)
        [ "$pid" -gt 0 ] || exit 1
        echo "user $(stat -c %U /proc/$pid)"
        grep -E "^(Uid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/$pid/status
        for t in /proc/$pid/task/*; do echo "thread $(awk "/^CapEff:/ { print \$2 }" $t/status)"; done' || true)
    local user uid capeff capprm capbnd capamb nnp threads nonzero
    user=$(awk '$1 == "user" { print $2 }' <<<"$out")
    uid=$(awk '$1 == "Uid:" { print $2 "/" $3 "/" $4 "/" $5 }' <<<"$out")
    capeff=$(awk '$1 == "CapEff:" { print $2 }' <<<"$out")
    capprm=$(awk '$1 == "CapPrm:" { print $2 }' <<<"$out")
    capbnd=$(awk '$1 == "CapBnd:" { print $2 }' <<<"$out")
    capamb=$(awk '$1 == "CapAmb:" { print $2 }' <<<"$out")
    nnp=$(awk '$1 == "NoNewPrivs:" { print $2 }' <<<"$out")
    threads=$(grep -c '^thread ' <<<"$out" || true)
    nonzero=$(grep '^thread ' <<<"$out" | grep -vc ' 0000000000000000$' || true)
    local u=${uid%%/*}
    if [[ $user == ringlb && $u =~ ^[1-9][0-9]*$ && $uid == "$u/$u/$u/$u" ]]; then pass "ringlb runs as user ringlb (uid real/effective/saved/fs $uid)"
    else fail "ringlb process owner: '$user', uids '$uid'"; fi
    if [[ $capeff == 0000000000000000 ]] && (( threads > 0 && nonzero == 0 )); then
        pass "ringlb has no effective capabilities: CapEff $capeff in all $threads threads (CapPrm $capprm, CapAmb $capamb, CapBnd $capbnd, NoNewPrivs $nnp)"
    else
        fail "ringlb capabilities: CapEff '$capeff' ($nonzero of $threads threads non-zero), CapPrm $capprm, CapAmb $capamb"
    fi
}

check_ha() {
    # Rendered by ringlb-config-drive-keepalived.service, which starts once ringlb has started.
    local i
    for (( i = 0; i < 30; i++ )); do
        grep -qa 'ringlb-config-drive: rendered keepalived.conf' "$SERIAL" && break
        sleep 2
    done
    if grep -qa 'ringlb-config-drive: rendered keepalived.conf' "$SERIAL"; then
        pass "config drive: keepalived.conf rendered from [ha] of ringlb.toml and accepted by keepalived --config-test (serial console)"
    else
        fail "serial console does not show keepalived.conf rendered from [ha]: $(grep -a 'keepalived' "$SERIAL" | tail -n 3 | tr -cd '[:print:]\n' | tr '\n' ' ')"
    fi
    local out
    # keepalived is MASTER after three advertisement intervals (no peer answers).
    for (( i = 0; i < 10; i++ )); do
        # shellcheck disable=SC2016 # expanded in the guest
        out=$(ssh_vm "$SSH_PORT" 'echo "keepalived $(systemctl is-active keepalived)"
            head -n1 /etc/keepalived/keepalived.conf
            runuser -u ringlb -- ringlb ha check -c /etc/ringlb/ringlb.toml && echo "hacheck ok"
            ip -o -4 addr show dev '"$GUEST_NIC"' | awk "{ print \"addr\", \$4 }"' 2>&1 || true)
        [[ $out == *"addr $VIP/24"* ]] && break
        sleep 3
    done
    if [[ $out == *"keepalived active"* && $out == *"written by \`ringlb ha render\`"* ]]; then pass "keepalived runs with the rendered keepalived.conf"
    else fail "keepalived: $(tr '\n' ' ' <<<"$out")"; fi
    if [[ $out == *"hacheck ok"* ]]; then pass "ringlb ha check (as user ringlb, as keepalived runs it) reaches ringlb over /run/ringlb/admin.sock"
    else fail "ringlb ha check failed: $(tr '\n' ' ' <<<"$out")"; fi
    if [[ $out == *"addr $VIP/24"* ]]; then pass "keepalived is MASTER: virtual address $VIP on $GUEST_NIC"
    else fail "virtual address $VIP not on $GUEST_NIC: $(tr '\n' ' ' <<<"$out")"; fi
}

# systemctl reload ringlb, RELOADS times, alternating two configs (each checked in the guest
# before it is installed), while LOAD_CLIENTS host clients send requests without a pause
# through the forwarded port. Every request must succeed.
check_reload_under_load() {
    local pid_before pid_after restarts i weight balance got stop=$WORK/load.stop reloaded=0 t0
    pid_before=$(ssh_vm "$SSH_PORT" systemctl show -p MainPID --value ringlb.service || true)
    write_load_client
    rm -f "$stop"
    t0=$(date +%s)
    python3 "$WORK/load.py" 127.0.0.1 "$HTTP_PORT" "$stop" 240 "$LOAD_CLIENTS" > "$WORK/load.out" 2> "$WORK/load.err" &
    local load_pid=$!
    PIDS+=("$load_pid")
    sleep 2
    for (( i = 1; i <= RELOADS; i++ )); do
        if (( i % 2 )); then weight=3; balance=leastconn; else weight=1; balance=roundrobin; fi
        config_a "$weight" "$balance" > "$WORK/reload-$i.toml"
        # The appliance's script gives the new file's [stats] this clone's credentials.
        if ssh_vm "$SSH_PORT" 'cat > /etc/ringlb/ringlb.toml.new && /usr/libexec/ringlb/stats-credentials /etc/ringlb/ringlb.toml.new &&
                ringlb check -c /etc/ringlb/ringlb.toml.new >/dev/null &&
                mv /etc/ringlb/ringlb.toml.new /etc/ringlb/ringlb.toml && systemctl reload ringlb' \
                < "$WORK/reload-$i.toml" > "$WORK/reload-$i.log" 2>&1; then
            reloaded=$((reloaded + 1))
        else
            fail "reload $i: $(tr '\n' ' ' < "$WORK/reload-$i.log")"
            continue
        fi
        got="$(stats_csv_field hosts a 19) $(stats_csv_field hosts BACKEND 77)"
        if [[ $got == "$weight $balance" ]]; then say "  reload $i done after $(( $(date +%s) - t0 ))s: stats show weight $weight, $balance"
        else fail "reload $i: stats show '$got', expected '$weight $balance'"; fi
    done
    sleep 1
    touch "$stop"
    wait "$load_pid" || true
    local n failed secs
    read -r n failed secs < "$WORK/load.out" || true
    n=${n:-0}; failed=${failed:-unknown}
    pid_after=$(ssh_vm "$SSH_PORT" systemctl show -p MainPID --value ringlb.service || true)
    restarts=$(ssh_vm "$SSH_PORT" systemctl show -p NRestarts --value ringlb.service || true)
    local metrics ok_reloads
    metrics=$(curl -s -m 10 -u "$STATS_AUTH" "http://127.0.0.1:$STATS_PORT/metrics" || true)
    ok_reloads=$(awk '$1 == "ringlb_process_reloads_total{result=\"ok\"}" { print $2 }' <<<"$metrics")
    if [[ -n $pid_before && $pid_before == "$pid_after" && $restarts == 0 && $ok_reloads == "$RELOADS" ]]; then
        pass "$RELOADS reloads applied by the same process (pid $pid_before, 0 restarts; ringlb counts $ok_reloads reloads)"
    else
        fail "reloads: pid $pid_before -> $pid_after, $restarts restarts, ringlb counts '$ok_reloads' reloads (want $RELOADS)"
    fi
    if [[ $failed == 0 ]] && (( n > 0 && reloaded == RELOADS )); then
        pass "reload under load: $n requests in ${secs}s from $LOAD_CLIENTS clients, 0 failed, $reloaded reloads"
    else
        fail "reload under load: $n requests, $failed failed, $reloaded of $RELOADS reloads"
        sed 's/^/    /' "$WORK/load.err" || true
    fi
    RELOAD_FIGURE="reload under load in the appliance: $n requests, $failed failed, $reloaded reloads"
    echo "FIGURE: $RELOAD_FIGURE"
}

# `dpkg -i` of a newer ringlb package in the guest while LOAD_CLIENTS host clients send
# requests without a pause: the package's postinst runs `ringlb upgrade` (not a restart), so the
# service stays active since the same moment (no restart, NRestarts 0), the same listening
# socket (inode) is now held by the new main process, which runs the new binary (ringlb
# --version, the stats page's version), the journal has the upgrade's line, and no request fails.
check_package_upgrade() {
    local new_version=${PKG_VERSION}+imagetest1 deb before after out stop=$WORK/upgrade.stop t0
    write_load_client
    deb=$("$REPO/scripts/build-deb" --no-build --version "$new_version" --binary "$REPO/target/release/ringlb" \
        --out "$WORK/deb" 2>"$WORK/build-deb.log" | tail -n1) || { fail "build-deb $new_version: $(tail -n 3 "$WORK/build-deb.log")"; return; }
    ssh_vm "$SSH_PORT" 'cat > /root/ringlb-new.deb' < "$deb" || { fail "copying $(basename "$deb") to the guest"; return; }
    # shellcheck disable=SC2016 # expanded in the guest
    local probe='pid=$(systemctl show -p MainPID --value ringlb)
        echo "pid $pid"
        echo "active $(systemctl show -p ActiveEnterTimestampMonotonic --value ringlb)"
        echo "restarts $(systemctl show -p NRestarts --value ringlb)"
        ino=$(ss -Hltne "sport = :80" | grep -o "ino:[0-9]*" | head -n1 | cut -d: -f2)
        echo "ino $ino"
        ls -l /proc/$pid/fd 2>/dev/null | grep -q "socket:\[$ino\]" && echo "held yes"
        echo "version $(ringlb --version)"'
    before=$(ssh_vm "$SSH_PORT" "$probe" 2>&1 || true)
    rm -f "$stop"
    t0=$(date +%s)
    python3 "$WORK/load.py" 127.0.0.1 "$HTTP_PORT" "$stop" 240 "$LOAD_CLIENTS" > "$WORK/upgrade-load.out" 2> "$WORK/upgrade-load.err" &
    local load_pid=$!
    PIDS+=("$load_pid")
    sleep 2
    out=$(ssh_vm "$SSH_PORT" 'dpkg -i /root/ringlb-new.deb 2>&1; echo "dpkg exit $?"' 2>&1 || true)
    sleep 2
    touch "$stop"
    wait "$load_pid" || true
    after=$(ssh_vm "$SSH_PORT" "$probe" 2>&1 || true)
    local n failed secs
    read -r n failed secs < "$WORK/upgrade-load.out" || true
    n=${n:-0}; failed=${failed:-unknown}
    local pid0 pid1 act0 act1 ino0 ino1 journal json_version
    pid0=$(awk '$1 == "pid" { print $2 }' <<<"$before"); pid1=$(awk '$1 == "pid" { print $2 }' <<<"$after")
    act0=$(awk '$1 == "active" { print $2 }' <<<"$before"); act1=$(awk '$1 == "active" { print $2 }' <<<"$after")
    ino0=$(awk '$1 == "ino" { print $2 }' <<<"$before"); ino1=$(awk '$1 == "ino" { print $2 }' <<<"$after")
    if [[ $out == *"dpkg exit 0"* && $out == *"ringlb: running process upgraded to $new_version without a restart"* ]]; then
        pass "dpkg -i $(basename "$deb") in the guest: the postinst upgraded the running ringlb in place ($(( $(date +%s) - t0 - 4 ))s)"
    else
        fail "dpkg -i of the newer package: $(tr '\n' ' ' <<<"$out")"
    fi
    if [[ $before == *"version ringlb $PKG_VERSION"* && $after == *"version ringlb $new_version"* ]]; then
        pass "ringlb --version: $PKG_VERSION before, $new_version after"
    else
        fail "versions: before '$(grep '^version' <<<"$before")', after '$(grep '^version' <<<"$after")'"
    fi
    json_version=$(curl -s -m 10 -u "$STATS_AUTH" "http://127.0.0.1:$STATS_PORT/;json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || true)
    if [[ $json_version == "$new_version" ]]; then pass "the running process is the new binary: the stats page says version $json_version"
    else fail "the stats page says version '$json_version', not $new_version"; fi
    if [[ -n $pid0 && -n $pid1 && $pid0 != "$pid1" && -n $act0 && $act0 == "$act1" && $after == *"restarts 0"* ]]; then
        pass "no restart: ringlb.service active since the same moment, NRestarts 0, main process $pid0 -> $pid1 (binary upgrade)"
    else
        fail "service after the package upgrade: pid $pid0 -> $pid1, active since $act0 -> $act1, $(grep '^restarts' <<<"$after")"
    fi
    if [[ -n $ino0 && $ino0 == "$ino1" && $after == *"held yes"* ]]; then
        pass "the same listening socket on port 80 (inode $ino0), now held by the new main process"
    else
        fail "listening socket on port 80: inode $ino0 -> $ino1, held by the new process: $(grep -c 'held yes' <<<"$after")"
    fi
    journal=$(ssh_vm "$SSH_PORT" "journalctl -u ringlb -o cat --no-pager | grep -F 'upgrade: process $pid1 ready'" 2>&1 || true)
    if [[ -n $pid1 && $journal == *"upgrade: process $pid1 ready"* ]]; then pass "journal: $(head -n1 <<<"$journal" | cut -c1-120)"
    else fail "no 'upgrade: process $pid1 ready' line in ringlb's journal"; fi
    if [[ $failed == 0 ]] && (( n > 0 )); then
        pass "package upgrade under load: $n requests in ${secs}s from $LOAD_CLIENTS clients, 0 failed"
    else
        fail "package upgrade under load: $n requests, $failed failed"
        sed 's/^/    /' "$WORK/upgrade-load.err" || true
    fi
    UPGRADE_FIGURE="dpkg -i of a newer package under load in the appliance: $n requests, $failed failed, ringlb $PKG_VERSION -> $new_version without a restart"
    echo "FIGURE: $UPGRADE_FIGURE"
}

test_clone_a() {
    local cfg=$WORK/config-a
    mkdir -p "$cfg"
    cp "$WORK/id_ed25519.pub" "$cfg/authorized_keys"
    config_a 1 roundrobin > "$cfg/ringlb.toml"
    "$REPO/target/release/ringlb" check -c "$cfg/ringlb.toml" > /dev/null || die "clone A's ringlb.toml is invalid"
    boot clone-a bios virtio-scsi "$cfg" "backend-"
    BOOT_A=$BOOT_SECONDS
    CPU_A=$BOOT_CPU
    AUTH_A=$STATS_AUTH
    check_firmware clone-a bios virtio-scsi
    if [[ $BOOT_ONLY == 1 ]]; then stop_vm; return; fi

    # Requests through the balancer reach both backends.
    local n_a n_b
    read -r n_a n_b < <(count_backends 12)
    if (( n_a > 0 && n_b > 0 )); then pass "12 requests through the appliance: $n_a to backend a, $n_b to backend b"
    else fail "requests did not reach both backends (a: $n_a, b: $n_b)"; fi
    grep -q '"GET / HTTP/1.1" 200' "$WORK/backend-a.log" || fail "backend a log shows no proxied request"

    check_stats_auth clone-a
    check_stats_page

    wait_ssh "$SSH_PORT" || { fail "no SSH login with the config-drive key"; return; }
    pass "SSH login as root with the key from the config drive"
    check_secrets

    # Sysctls from /etc/sysctl.d/60-ringlb.conf, read from /proc/sys (one SSH round trip).
    local kv key want got paths=() values=() i=0
    for kv in "${SYSCTLS[@]}"; do key=${kv%%=*}; paths+=("/proc/sys/${key//.//}"); done
    mapfile -t values < <(ssh_vm "$SSH_PORT" cat "${paths[@]}" | tr -s '\t ' ' ' || true)
    for kv in "${SYSCTLS[@]}"; do
        key=${kv%%=*}; want=${kv#*=}; got=${values[i]:-}; i=$((i + 1))
        if [[ $got == "$want" ]]; then pass "sysctl $key = $got"
        else fail "sysctl $key = '$got', expected $want"; fi
    done

    check_privileges

    # First boot of a clone: /etc and /var count as up to date with /usr, so ldconfig and the
    # hardware database compiler did not run (their condition failed).
    local skipped
    skipped=$(ssh_vm "$SSH_PORT" systemctl show -p Id -p ConditionResult -p ExecMainStartTimestampMonotonic \
        ldconfig.service systemd-hwdb-update.service 2>/dev/null | tr '\n' ' ' || true)
    if [[ $skipped == *"ConditionResult=no"*"ConditionResult=no"* && $skipped != *"Monotonic="[1-9]* ]]; then
        pass "first boot skipped ldconfig.service and systemd-hwdb-update.service (nothing in /usr changed)"
    else
        fail "first boot update units: $skipped"
    fi

    # The image carries the ringlb built from these sources (build-image runs cargo first).
    local guest_sum
    guest_sum=$(ssh_vm "$SSH_PORT" sha256sum /usr/bin/ringlb | cut -c1-64)
    if [[ $guest_sum == "$RINGLB_SUM" ]]; then pass "the guest's /usr/bin/ringlb is the one in $(basename "$DEB") (sha256 ${RINGLB_SUM:0:16}…)"
    else fail "the guest's /usr/bin/ringlb ($guest_sum) is not the one in $(basename "$DEB") ($RINGLB_SUM)"; fi
    local pkg
    pkg=$(ssh_vm "$SSH_PORT" "dpkg-query -W -f='\${db:Status-Abbrev}\${Version}' ringlb; echo; ringlb --version" 2>&1 || true)
    if [[ $pkg == "ii $PKG_VERSION"*"ringlb $PKG_VERSION" ]]; then pass "ringlb is installed from its Debian package: dpkg says 'ii $PKG_VERSION', ringlb --version agrees"
    else fail "ringlb package in the guest: $(tr '\n' ' ' <<<"$pkg")"; fi

    check_ha
    check_reload_under_load
    check_package_upgrade
    check_ktls

    # The root partition and file system grew to fill the 2 GiB overlay.
    local root_bytes
    root_bytes=$(ssh_vm "$SSH_PORT" df -B1 --output=size / | tail -n1 | tr -d ' ')
    if (( root_bytes > 1600 * 1024 * 1024 )); then pass "root file system grew to $((root_bytes / 1048576)) MiB on a 2 GiB disk"
    else fail "root file system is $((root_bytes / 1048576)) MiB on a 2 GiB disk (did not grow)"; fi

    if grep -qa 'ringlb-config-drive: applied ringlb.toml' "$SERIAL"; then
        pass "config drive ringlb.toml applied (serial console)"
    else
        fail "serial console does not show the config drive's ringlb.toml being applied"
    fi

    read -r MID_A HOST_A FP_A < <(identity "$SSH_PORT")
    check_identity clone-a "$MID_A" "$HOST_A" "$FP_A"
    check_state_survives
    stop_vm
}

# Server state that survives (docs: README "Server state"): server b of clone A is put in
# maintenance over the admin socket; after a binary upgrade (`ringlb upgrade`, what the
# package's postinst runs) and after a reboot (the guest powers off, its own disk boots
# again) the stats page still says MAINT and every request goes to a.
check_state_survives() {
    local out status pid0 pid1 i n_a n_b
    out=$(ssh_vm "$SSH_PORT" 'ringlb admin set server hosts/b state maint' 2>&1 || true)
    status=$(stats_csv_field hosts b 18)
    if [[ $status == MAINT ]]; then pass "server hosts/b in maintenance by the admin socket (stats: $status)"
    else fail "set server hosts/b state maint: '$(tr '\n' ' ' <<<"$out")', stats status '$status'"; return; fi
    pid0=$(ssh_vm "$SSH_PORT" systemctl show -p MainPID --value ringlb 2>/dev/null || true)
    out=$(ssh_vm "$SSH_PORT" 'ringlb upgrade 2>&1; echo "exit $?"' 2>&1 || true)
    pid1=$(ssh_vm "$SSH_PORT" systemctl show -p MainPID --value ringlb 2>/dev/null || true)
    status=$(stats_csv_field hosts b 18)
    if [[ $out == *"exit 0"* && -n $pid1 && $pid0 != "$pid1" && $status == MAINT ]]; then
        pass "after a binary upgrade (main process $pid0 -> $pid1) hosts/b is still in maintenance"
    else
        fail "after ringlb upgrade: '$(tr '\n' ' ' <<<"$out")', main process $pid0 -> $pid1, hosts/b status '$status'"
    fi

    # The reboot: a clean shutdown (ringlb drains and writes its state file), then the same disk.
    local disk=$BOOT_STATE/overlay.qcow2 auth=$STATS_AUTH
    ssh_vm "$SSH_PORT" 'systemctl poweroff' >/dev/null 2>&1 || true
    for (( i = 0; i < 120; i++ )); do kill -0 "$VM_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$VM_PID" 2>/dev/null; then fail "clone A did not power off within 60 s"; stop_vm; return; fi
    wait "$VM_PID" 2>/dev/null || true
    VM_PID=""
    BOOT_EXTRA=(--persist --image "$disk")
    boot clone-a-reboot bios virtio-scsi "$WORK/config-a" "backend-"
    BOOT_EXTRA=()
    STATS_AUTH=${STATS_AUTH:-$auth}
    status=$(stats_csv_field hosts b 18)
    read -r n_a n_b < <(count_backends 8)
    if [[ $status == MAINT ]] && (( n_a == 8 && n_b == 0 )); then
        pass "after a reboot (served again in ${BOOT_SECONDS}s) hosts/b is still in maintenance: 8 requests, all to a"
    else
        fail "after a reboot: hosts/b status '$status', requests a $n_a, b $n_b"
    fi
}

# kTLS in the appliance: a TLS listener is added to clone A's config (a throw-away ECDSA
# certificate installed over SSH, then `systemctl reload ringlb`, which binds guest port
# GUEST_TLS_PORT, forwarded from the host's HTTPS_PORT);
# the guest has the `tls` module loaded at boot; a 64 MiB random file, served by the host
# backends, is downloaded over TLS 1.3 through the forwarded port and its sha256 must match;
# a small request over TLS 1.2 works too; ringlb's Prometheus counters say every TLS session
# went to the kernel (path="ktls", none in user space, no set-up failure) and the kernel's
# /proc/net/tls_stat counts software kTLS sessions in both directions and no decrypt error.
check_ktls() {
    local dir=$WORK/ktls out sum_host sum_tls got i figure metrics k u f stat code size secs speed mibs
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj /CN=ringlb-image-test -addext subjectAltName=DNS:ringlb-image-test \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || { fail "kTLS: openssl could not make a certificate"; return; }
    cat "$dir/cert.pem" "$dir/key.pem" > "$dir/site.pem"
    head -c $((64 * 1024 * 1024)) /dev/urandom > "$WORK/backend-a/big.bin"
    cp "$WORK/backend-a/big.bin" "$WORK/backend-b/big.bin"
    sum_host=$(sha256sum "$WORK/backend-a/big.bin" | cut -c1-64)
    { config_a 1 roundrobin
      printf '\n[frontend.www.tls]\nbind = "0.0.0.0:%s"\ncertificates = ["/etc/ringlb/tls/image-test.pem"]\n' "$GUEST_TLS_PORT"
    } > "$dir/ringlb.toml"
    # shellcheck disable=SC2016 # expanded in the guest
    out=$(ssh_vm "$SSH_PORT" 'install -d -m 0750 -g ringlb /etc/ringlb/tls && cat > /etc/ringlb/tls/image-test.pem &&
            chgrp ringlb /etc/ringlb/tls/image-test.pem && chmod 0640 /etc/ringlb/tls/image-test.pem &&
            echo "module $(cat /sys/module/tls/initstate 2>/dev/null || echo absent)"' < "$dir/site.pem" 2>&1 || true)
    if [[ $out == *"module live"* ]]; then pass "kTLS: the guest kernel has the tls module loaded (modules-load.d at boot)"
    else fail "kTLS: the tls module is not loaded in the guest: $(tr '\n' ' ' <<<"$out")"; fi
    # shellcheck disable=SC2016 # expanded in the guest
    out=$(ssh_vm "$SSH_PORT" 'for m in button evdev; do echo "$m $(cat /sys/module/$m/initstate 2>/dev/null || echo absent)"; done' 2>&1 || true)
    if [[ $out == *"button live"* && $out == *"evdev live"* ]]; then pass "ACPI power button: button and evdev loaded (a host's shutdown request reaches logind)"
    else fail "ACPI power button: $(tr '\n' ' ' <<<"$out")"; fi
    if ! ssh_vm "$SSH_PORT" 'cat > /etc/ringlb/ringlb.toml.new && /usr/libexec/ringlb/stats-credentials /etc/ringlb/ringlb.toml.new &&
            ringlb check -c /etc/ringlb/ringlb.toml.new >/dev/null &&
            mv /etc/ringlb/ringlb.toml.new /etc/ringlb/ringlb.toml && systemctl reload ringlb' \
            < "$dir/ringlb.toml" > "$dir/reload.log" 2>&1; then
        fail "kTLS: installing the TLS config: $(tr '\n' ' ' < "$dir/reload.log")"
        return
    fi
    got=""
    for (( i = 0; i < 20; i++ )); do
        got=$(curl -sk -m 10 --tlsv1.3 "https://127.0.0.1:$HTTPS_PORT/" || true)
        [[ $got == backend-* ]] && break
        sleep 1
    done
    if [[ $got == backend-* ]]; then pass "kTLS: the reload opened the TLS listener; GET / over TLS 1.3 answered by $got"
    else fail "kTLS: no answer over TLS on guest port $GUEST_TLS_PORT (127.0.0.1:$HTTPS_PORT): '$got'"; return; fi
    got=$(curl -sk -m 20 --tlsv1.2 --tls-max 1.2 "https://127.0.0.1:$HTTPS_PORT/" || true)
    if [[ $got == backend-* ]]; then pass "kTLS: GET / over TLS 1.2 answered by $got"
    else fail "kTLS: GET / over TLS 1.2: '$got'"; fi
    # Before the large download, whose freed buffers would make the idle figure look smaller.
    check_ktls_idle
    figure=$(curl -sk -m 900 --tlsv1.3 -o "$dir/big.tls" -w '%{http_code} %{size_download} %{time_total} %{speed_download}' \
        "https://127.0.0.1:$HTTPS_PORT/big.bin" || true)
    sum_tls=$(sha256sum "$dir/big.tls" 2>/dev/null | cut -c1-64)
    rm -f "$dir/big.tls" "$WORK/backend-a/big.bin" "$WORK/backend-b/big.bin"
    read -r code size secs speed <<<"$figure"
    mibs=$(awk -v s="${speed:-0}" 'BEGIN { printf "%.1f", s / 1048576 }')
    if [[ ${code:-} == 200 && ${size:-0} == $((64 * 1024 * 1024)) && $sum_tls == "$sum_host" ]]; then
        pass "kTLS: 64 MiB downloaded over TLS 1.3 intact (sha256 ${sum_host:0:16}… matches the backend's) in ${secs}s ($mibs MiB/s under $ACCEL)"
    else
        fail "kTLS: 64 MiB download over TLS: HTTP ${code:-?}, ${size:-?} bytes, sha256 ${sum_tls:-none} (backend's $sum_host)"
    fi
    KTLS_FIGURE="64 MiB over kTLS (TLS 1.3) through the appliance: ${secs:-?}s, $mibs MiB/s under $ACCEL"
    echo "FIGURE: $KTLS_FIGURE"
    metrics=$(curl -s -m 10 -u "$STATS_AUTH" "http://127.0.0.1:$STATS_PORT/metrics" || true)
    k=$(awk '$1 == "ringlb_frontend_tls_connections_total{frontend=\"www\",path=\"ktls\"}" { print $2 }' <<<"$metrics")
    u=$(awk '$1 == "ringlb_frontend_tls_connections_total{frontend=\"www\",path=\"userspace\"}" { print $2 }' <<<"$metrics")
    f=$(awk '$1 == "ringlb_frontend_ktls_failures_total{frontend=\"www\"}" { print $2 }' <<<"$metrics")
    if [[ ${k:-0} =~ ^[0-9]+$ ]] && (( ${k:-0} >= 3 )) && [[ $u == 0 && $f == 0 ]]; then
        pass "kTLS in use: ringlb counts $k TLS sessions on kTLS, $u in user space, $f kTLS set-up failures (Prometheus)"
    else
        fail "kTLS not in use: Prometheus says ktls '${k:-}', userspace '${u:-}', failures '${f:-}'"
    fi
    stat=$(ssh_vm "$SSH_PORT" cat /proc/net/tls_stat 2>/dev/null || true)
    local tx rx derr
    tx=$(awk '$1 == "TlsTxSw" { print $2 }' <<<"$stat")
    rx=$(awk '$1 == "TlsRxSw" { print $2 }' <<<"$stat")
    derr=$(awk '$1 == "TlsDecryptError" { print $2 }' <<<"$stat")
    if (( ${tx:-0} >= 3 && ${rx:-0} >= 3 )) && [[ $derr == 0 ]]; then
        pass "kTLS in the guest kernel: /proc/net/tls_stat TlsTxSw $tx, TlsRxSw $rx, TlsDecryptError $derr"
    else
        fail "kTLS in the guest kernel: /proc/net/tls_stat: $(tr -s ' \t\n' ' ' <<<"$stat")"
    fi
}

# What an idle kTLS keep-alive connection costs ringlb: ringlb is restarted (a fresh heap: free
# memory kept from earlier tests would absorb the connections and hide their cost), then
# IDLE_TLS host clients each make a TLS connection, send one request, read the answer and keep
# the connection open; ringlb's RSS (VmRSS of the main PID, read over SSH) before and while
# they idle gives the figure. Every connection must be answered and counted on kTLS. A figure,
# not a pass/fail bound.
check_ktls_idle() {
    local before after k0 k1 out per i
    cat > "$WORK/idle_tls.py" <<'EOT'
import http.client, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conns, ok = [], 0
for _ in range(n):
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        if r.status == 200 and r.read().startswith(b"backend-"):
            ok += 1
    except Exception as e:
        print("error:", type(e).__name__, e, file=sys.stderr)
    conns.append(c)
print(ok, flush=True)
sys.stdin.readline()
EOT
    # shellcheck disable=SC2016 # expanded in the guest
    local rss='grep VmRSS /proc/$(systemctl show -p MainPID --value ringlb)/status | tr -s " " | cut -d" " -f2'
    ssh_vm "$SSH_PORT" systemctl restart ringlb || { fail "kTLS idle: systemctl restart ringlb failed"; return; }
    for (( i = 0; i < 30; i++ )); do
        [[ $(curl -sk -m 10 "https://127.0.0.1:$HTTPS_PORT/" || true) == backend-* ]] && break
        sleep 1
    done
    before=$(ssh_vm "$SSH_PORT" "$rss" || true)
    k0=$(ktls_sessions)
    mkfifo "$WORK/idle.in"
    python3 "$WORK/idle_tls.py" "$HTTPS_PORT" "$IDLE_TLS" < "$WORK/idle.in" > "$WORK/idle.out" 2> "$WORK/idle.err" &
    local idle_pid=$!
    PIDS+=("$idle_pid")
    exec 9> "$WORK/idle.in"
    for (( i = 0; i < 600; i++ )); do
        [[ -s $WORK/idle.out ]] && break
        sleep 1
    done
    out=$(cat "$WORK/idle.out")
    after=$(ssh_vm "$SSH_PORT" "$rss" || true)
    k1=$(ktls_sessions)
    exec 9>&-
    wait "$idle_pid" 2>/dev/null || true
    if [[ $out == "$IDLE_TLS" ]] && (( k1 - k0 == IDLE_TLS )); then
        pass "kTLS: $IDLE_TLS keep-alive TLS connections answered and held open, all $IDLE_TLS on kTLS"
    else
        fail "kTLS idle connections: $out of $IDLE_TLS answered, $(( ${k1:-0} - ${k0:-0} )) on kTLS: $(head -n 3 "$WORK/idle.err" | tr '\n' ' ')"
    fi
    if [[ $before =~ ^[0-9]+$ && $after =~ ^[0-9]+$ ]]; then
        per=$(awk -v a="$after" -v b="$before" -v n="$IDLE_TLS" 'BEGIN { printf "%.2f", (a - b) / n }')
        KTLS_IDLE_FIGURE="ringlb RSS per idle kTLS keep-alive connection: $per KiB ($IDLE_TLS connections, VmRSS $before -> $after KiB)"
        echo "FIGURE: $KTLS_IDLE_FIGURE"
    fi
}

# ringlb's count of TLS sessions on kTLS (Prometheus).
ktls_sessions() {
    curl -s -m 10 -u "$STATS_AUTH" "http://127.0.0.1:$STATS_PORT/metrics" \
        | awk '$1 == "ringlb_frontend_tls_connections_total{frontend=\"www\",path=\"ktls\"}" { print $2 }'
}

# No passwords: SSH offers public keys only, no account has a password, the stats credentials
# file is root's only and matches the console, ringlb.toml carries only its hash.
check_secrets() {
    local out
    out=$(ssh -i "$WORK/id_ed25519" -p "$SSH_PORT" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o PubkeyAuthentication=no \
        -o PreferredAuthentications=password,keyboard-interactive root@127.0.0.1 true 2>&1 || true)
    if [[ $out == *"Permission denied (publickey)"* ]]; then pass "SSH without a key: refused, the server offers public keys only"
    else fail "SSH without a key: $(tr '\n' ' ' <<<"$out")"; fi
    # shellcheck disable=SC2016 # expanded in the guest
    out=$(ssh_vm "$SSH_PORT" 'sshd -T | grep -E "^(passwordauthentication|kbdinteractiveauthentication|permitrootlogin|permitemptypasswords) "
        awk -F: "\$2 != \"\" && \$2 !~ /^[!*]/ { print \"password-set\", \$1 } \$2 == \"\" { print \"password-empty\", \$1 }" /etc/shadow
        stat -c "creds %U %a" /etc/ringlb/stats-credentials; echo "content $(cat /etc/ringlb/stats-credentials)"
        stat -c "toml %U:%G %a" /etc/ringlb/ringlb.toml
        grep -c "^users = \[\"admin:\$6\$.*# ringlb-stats-credentials$" /etc/ringlb/ringlb.toml | sed "s/^/hashed /"
        grep -cF "'"${STATS_AUTH#*:}"'" /etc/ringlb/ringlb.toml | sed "s/^/plain /"' 2>&1 || true)
    if [[ $out == *"passwordauthentication no"* && $out == *"kbdinteractiveauthentication no"* \
        && $out == *"permitrootlogin without-password"* && $out == *"permitemptypasswords no"* ]]; then
        pass "sshd -T: passwordauthentication no, kbdinteractiveauthentication no, permitrootlogin without-password (keys only)"
    else
        fail "sshd allows passwords: $(grep -v -e '^creds' -e '^content' <<<"$out" | tr '\n' ' ')"
    fi
    if [[ $out != *password-set* && $out != *password-empty* ]]; then pass "/etc/shadow: no account has a password (all locked)"
    else fail "/etc/shadow: $(grep password- <<<"$out" | tr '\n' ' ')"; fi
    if [[ $out == *"creds root 600"* && $out == *"content $STATS_AUTH"* ]]; then
        pass "/etc/ringlb/stats-credentials: root's only (0600) and holds the credentials shown on the console"
    else
        fail "/etc/ringlb/stats-credentials: $(grep -e '^creds' <<<"$out"), content matches the console: $([[ $out == *"content $STATS_AUTH"* ]] && echo yes || echo no)"
    fi
    if [[ $out == *"toml root:ringlb 640"* && $out == *"hashed 1"* && $out == *"plain 0"* ]]; then
        pass "ringlb.toml (root:ringlb 0640) holds a SHA-512 hash of the stats password, not the password"
    else
        fail "ringlb.toml: $(grep -e '^toml' -e '^hashed' -e '^plain' <<<"$out" | tr '\n' ' ')"
    fi
}

# The image's default ringlb.toml, with the files it names (under /usr/share/ringlb in the
# image) read from the repository's copy of the image's tree, to be checked on the host.
default_config_on_host() {
    sed "s#\"/usr/share/ringlb/#\"$REPO/image/rootfs/usr/share/ringlb/#g" "$REPO/image/rootfs/etc/ringlb/ringlb.toml"
}

# The image's stats-credentials script on the host, against copies of ringlb.toml: generated
# credentials go into a [stats] without users; they are stable across runs; credentials set
# by a config drive replace them; users of the operator's own are left alone.
test_credentials_script() {
    local dir=$WORK/creds script=$REPO/image/rootfs/usr/libexec/ringlb/stats-credentials out
    local first second
    # The users line ringlb-stats-credentials writes: a SHA-512 crypt(3) hash ($6$salt$hash).
    # shellcheck disable=SC2016 # literal dollars
    local hash_re='\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}'
    local ours_admin="^users = \[\"admin:$hash_re\"\]  # ringlb-stats-credentials\$"
    local ours_ops="^users = \[\"ops:$hash_re\"\]  # ringlb-stats-credentials\$"
    mkdir -p "$dir"
    default_config_on_host > "$dir/ringlb.toml"
    printf '[stats]\nbind = "0.0.0.0:8404"\nusers = []\n\n[frontend.www]\nbind = "0.0.0.0:80"\ndefault_backend = "b"\n\n[backend.b]\n\n[[backend.b.server]]\nname = "x"\naddress = "127.0.0.1:1"\n' > "$dir/own.toml"
    cp "$dir/own.toml" "$dir/own.orig"
    run_creds() { RINGLB_ETC=$dir RINGLB_BIN=$REPO/target/release/ringlb sh "$script" "$@" 2>&1; }
    out=$(run_creds) || { fail "stats-credentials on the host: $out"; return; }
    first=$(grep '^users = ' "$dir/ringlb.toml" || true)
    if [[ $(cat "$dir/stats-credentials") =~ ^admin:[A-Za-z0-9]{24}$ && $(stat -c %a "$dir/stats-credentials") == 600 \
        && $first =~ $ours_admin && $out == *"user admin password "* ]]; then
        pass "stats-credentials (host): generates admin + 24 characters (0600), shows them, adds a SHA-512 hash to [stats]"
    else
        fail "stats-credentials (host): $out / $(cat "$dir/stats-credentials") / $first"
    fi
    run_creds > /dev/null
    second=$(grep '^users = ' "$dir/ringlb.toml" || true)
    if [[ $first == "$second" ]]; then pass "stats-credentials (host): a second run changes nothing"
    else fail "stats-credentials (host): a second run rewrote the hash"; fi
    echo 'ops:set-by-the-config-drive' > "$dir/stats-credentials"
    run_creds > /dev/null
    second=$(grep '^users = ' "$dir/ringlb.toml" || true)
    if [[ $second =~ $ours_ops && $(grep -c '^users = ' "$dir/ringlb.toml") == 1 ]] \
        && "$REPO/target/release/ringlb" check -c "$dir/ringlb.toml" > /dev/null \
        && perl -e 'exit(crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? 0 : 1)' set-by-the-config-drive "$(sed -n 's/^users = \["ops:\([^"]*\)".*/\1/p' "$dir/ringlb.toml")"; then
        pass "stats-credentials (host): credentials set by a config drive replace the generated ones (hash verifies, ringlb check passes)"
    else
        fail "stats-credentials (host): config drive credentials: $second"
    fi
    run_creds "$dir/own.toml" > /dev/null
    if cmp -s "$dir/own.toml" "$dir/own.orig"; then pass "stats-credentials (host): a [stats] with users of its own is left alone"
    else fail "stats-credentials (host): changed a [stats] that has users of its own"; fi
}

# ---- IPVS tier (docs/ha.md, "IPVS tier") -----------------------------------------------------
# An IPVS director in front of IPVS_HOSTS ringlb hosts, by direct routing, in network namespaces
# inside the guest (the host kernel here has no ip_vs; the appliance's has): the director's
# keepalived.conf is rendered by `ringlb ha render` from [ha] + [ha.lvs]; tests/image/ipvs_tier.sh
# builds the namespaces, starts ringlb on each host (VIP on lo, arp_ignore/arp_announce) and
# keepalived on the director, sends requests from a client namespace and stops ringlb on lb2
# (SIGTERM). Passes when every host served before the stop, the director removed lb2 within 3 s
# (its share moved to the others) and every request started after that succeeded on another
# host.
readonly IPVS_HOSTS=3
IPVS_FIGURE="(IPVS tier test did not run)"

test_ipvs_tier() {
    local dir=$WORK/ipvs out spread removed after moved line
    mkdir -p "$dir"
    cat > "$dir/director.toml" <<'EOT'
# The IPVS director of the image test (tests/image/ipvs_tier.sh): only [ha] and [ha.lvs] matter,
# a frontend is required of any ringlb.toml.
[frontend.placeholder]
bind = "127.0.0.1:8081"
default_backend = "none"

[backend.none]
[[backend.none.server]]
name = "none"
address = "127.0.0.1:9"

[ha]
interface = "eth0"
virtual_ips = ["10.77.0.100/24"]
router_id = 77

[ha.lvs]
ports = [80]
real_servers = ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
scheduler = "rr"
EOT
    if ! "$REPO/target/release/ringlb" ha render -c "$dir/director.toml" -o "$dir/director.conf" \
            --router-name ipvs-director --script-user root \
            --script-config /run/ringlb-ipvs-test/director.toml 2> "$dir/render.err"; then
        fail "IPVS tier: ringlb ha render: $(tr '\n' ' ' < "$dir/render.err")"
        return
    fi
    ssh_vm "$SSH_PORT" 'cat > /root/ipvs_tier.sh' < "$REPO/tests/image/ipvs_tier.sh" \
        || { fail "IPVS tier: copying ipvs_tier.sh to the guest"; return; }
    out=$(ssh_vm "$SSH_PORT" "bash /root/ipvs_tier.sh $IPVS_HOSTS" < "$dir/director.conf" 2>&1 || true)
    while IFS= read -r line; do echo "    | $line"; done <<<"$out"
    if grep -q '^error ' <<<"$out" || ! grep -q '^done$' <<<"$out"; then
        fail "IPVS tier in the guest: $(grep '^error ' <<<"$out" | head -n1)"
        return
    fi
    spread=$(sed -n 's/^spread //p' <<<"$out")
    removed=$(sed -n 's/^removed_after //p' <<<"$out")
    moved=$(sed -n 's/^moved_after //p' <<<"$out")
    after=$(sed -n 's/^after_removed //p' <<<"$out")
    local i all_served=1
    for (( i = 1; i <= IPVS_HOSTS; i++ )); do
        [[ $spread =~ (^| )lb$i=([0-9]+) ]] && (( BASH_REMATCH[2] > 0 )) || all_served=0
    done
    if (( all_served )) && [[ $spread == *" failed=0" ]]; then
        pass "IPVS tier (DR, $IPVS_HOSTS ringlb hosts behind a keepalived director in the guest): traffic spread: $spread"
    else
        fail "IPVS tier: traffic not spread over all $IPVS_HOSTS hosts: $spread"
    fi
    if [[ $removed =~ ^[0-9.]+$ ]] && awk -v r="$removed" 'BEGIN { exit !(r <= 3.0) }'; then
        pass "IPVS tier: ringlb on lb2 stopped; the director's check removed it after ${removed}s (limit 3s): its share moved to the others"
    else
        fail "IPVS tier: lb2 removed from the director's table after '$removed' s (limit 3 s)"
    fi
    if [[ $after =~ ^requests=([0-9]+) ]] && (( BASH_REMATCH[1] > 0 )) && [[ $after != *lb2=* && $after != *FAIL* && $after != *EMPTY* ]]; then
        pass "IPVS tier: every request after the removal served by the others ($after)"
    else
        fail "IPVS tier: requests after lb2's removal: $after"
    fi
    IPVS_FIGURE="IPVS tier in the appliance (TCG): $IPVS_HOSTS ringlb hosts by DR, spread $spread; ringlb stopped on lb2: removed by the director after ${removed}s, first request after the last failed one at ${moved}s ($(sed -n 's/^after_stop //p' <<<"$out"))"
    echo "FIGURE: $IPVS_FIGURE"
}
# ---- end of IPVS tier ------------------------------------------------------------------------

test_clone_b() {
    local cfg=$WORK/config-b
    mkdir -p "$cfg"
    cp "$WORK/id_ed25519.pub" "$cfg/authorized_keys"
    printf '[frontend.www]\nbind = "0.0.0.0:80"\ndefault_backend = "nope"\nlisten_harder = true\n' > "$cfg/ringlb.toml"
    # The bad ringlb.toml must not replace the default: the placeholder page serves.
    boot clone-b uefi virtio-blk "$cfg" "not configured yet"
    BOOT_B=$BOOT_SECONDS
    CPU_B=$BOOT_CPU
    AUTH_B=$STATS_AUTH
    check_firmware clone-b uefi virtio-blk
    if [[ $BOOT_ONLY == 1 ]]; then stop_vm; return; fi
    pass "bad config-drive ringlb.toml kept the default configuration (placeholder page served)"
    if grep -qa 'ringlb.toml on the config drive REJECTED' "$SERIAL"; then
        pass "rejection reported on the serial console: $(grep -a 'error:' "$SERIAL" | head -n1 | tr -cd '[:print:]' | cut -c1-140)"
    else
        fail "serial console does not report the rejected ringlb.toml"
    fi

    # The default configuration's stats page, admin socket (reload, ha check), no keepalived.
    local page out
    check_stats_auth clone-b
    if [[ -n $AUTH_A && $AUTH_A != "$AUTH_B" && $(stats_status "$AUTH_A") == 401 ]]; then
        pass "clones have different stats credentials (clone A's are refused by clone B: 401)"
    else
        fail "clones' stats credentials: A '$AUTH_A', B '$AUTH_B' (A's on B: $(stats_status "$AUTH_A"))"
    fi
    page=$(curl -s -m 10 -u "$STATS_AUTH" -w '\nHTTP %{http_code}' "http://127.0.0.1:$STATS_PORT/" || true)
    if [[ $page == *"HTTP 200" && $page == *"unconfigured"* && $page == *"127.0.0.1:9"* ]]; then
        pass "default configuration: stats page on guest port 8404 lists the default's backend"
    else
        fail "default configuration: stats page on 127.0.0.1:$STATS_PORT: $(tail -n1 <<<"$page"), backend \"unconfigured\" not listed"
    fi
    # The placeholder page is ringlb's own answer (a return rule), as HTML, to any method.
    out=$(curl -s -m 10 -o /dev/null -X POST -d probe -w '%{http_code} %{content_type}' "http://127.0.0.1:$HTTP_PORT/any/path" || true)
    if [[ $out == "200 text/html; charset=utf-8" ]]; then
        pass "default configuration: ringlb answers any request with the placeholder page ($out)"
    else
        fail "default configuration: POST /any/path got '$out', not 200 text/html"
    fi

    wait_ssh "$SSH_PORT" || { fail "clone-b: no SSH login"; return; }
    # shellcheck disable=SC2016 # expanded in the guest
    out=$(ssh_vm "$SSH_PORT" 'systemctl reload ringlb && echo "reload ok"
        ringlb ha check && echo "hacheck ok"
        [ -e /etc/keepalived/keepalived.conf ] || echo "no keepalived.conf"
        echo "keepalived $(systemctl is-active keepalived)"' 2>&1 || true)
    if [[ $out == *"reload ok"* && $out == *"hacheck ok"* ]]; then
        pass "default configuration: systemctl reload ringlb and ringlb ha check work (admin socket)"
    else
        fail "default configuration: reload / ha check: $(tr '\n' ' ' <<<"$out")"
    fi
    if [[ $out == *"no keepalived.conf"* && $out != *"keepalived active"* ]]; then pass "no [ha], no keepalived.conf: keepalived not running"
    else fail "keepalived without [ha]: $(tr '\n' ' ' <<<"$out")"; fi

    test_ipvs_tier

    read -r MID_B HOST_B FP_B < <(identity "$SSH_PORT")
    check_identity clone-b "$MID_B" "$HOST_B" "$FP_B"
    stop_vm

    differ "machine-ids" "$MID_A" "$MID_B"
    differ "hostnames" "$HOST_A" "$HOST_B"
    differ "SSH host key fingerprints" "$FP_A" "$FP_B"
}

main() {
    preflight
    trap cleanup EXIT
    trap 'say "interrupted"; exit 1' INT TERM
    # Bound the whole run.
    (
        sleep "$TEST_TIMEOUT" & sleeper=$!
        trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
        wait "$sleeper"
        echo "[image-test] FAIL: overall time limit of ${TEST_TIMEOUT}s reached" >&2
        kill -TERM $$
    ) </dev/null &
    PIDS+=($!)

    say "building the image (reused when its inputs did not change)"
    timeout 1800 "$REPO/scripts/build-image" --if-changed 2>&1 | sed 's/^/    /' || die "scripts/build-image failed"
    [[ -f $IMAGE ]] || die "no image at $IMAGE"
    # The image installs ringlb from this package (scripts/build-deb via build-image).
    PKG_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
    DEB=$OUT/deb/ringlb_${PKG_VERSION}_amd64.deb
    [[ -f $DEB ]] || die "no package at $DEB"
    RINGLB_SUM=$(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/bin/ringlb | sha256sum | cut -c1-64)

    mkdir -p "$OUT"
    WORK=$(mktemp -d "$OUT/test-XXXXXX")
    default_config_on_host > "$WORK/default-ringlb.toml"
    "$REPO/target/release/ringlb" check -c "$WORK/default-ringlb.toml" | sed 's/^/    /' \
        || die "the image's default ringlb.toml is invalid"
    ACCEL=${RINGLB_IMAGE_ACCEL:-$("$REPO/scripts/run-appliance" --probe-accel)}
    say "accelerator: $ACCEL"

    ssh-keygen -q -t ed25519 -N '' -C ringlb-image-test -f "$WORK/id_ed25519"
    PORT_A=$(free_port); start_backend a "$PORT_A"
    PORT_B=$(free_port); start_backend b "$PORT_B"   # a's port is taken now: they differ
    say "backends on 127.0.0.1:$PORT_A and 127.0.0.1:$PORT_B (10.0.2.2 in the guest)"

    test_credentials_script

    test_clone_a
    test_clone_b

    say "FIGURE: boot to serving ($ACCEL): SeaBIOS + virtio-scsi (clone-a) ${BOOT_A}s (QEMU CPU ${CPU_A}s), OVMF + virtio-blk (clone-b) ${BOOT_B}s (QEMU CPU ${CPU_B}s); host load $(cut -d' ' -f1-3 /proc/loadavg)"
    say "FIGURE: image $(basename "$IMAGE") $(( $(stat -c %s "$IMAGE") / 1048576 )) MiB ($(stat -c %s "$IMAGE") bytes)"
    say "FIGURE: $RELOAD_FIGURE"
    say "FIGURE: $UPGRADE_FIGURE"
    say "FIGURE: $KTLS_FIGURE"
    say "FIGURE: $KTLS_IDLE_FIGURE"
    say "FIGURE: $IPVS_FIGURE"
    if (( FAILED )); then say "image test FAILED"; exit 1; fi
    if [[ $BOOT_ONLY == 1 ]]; then say "boots passed in $(( $(date +%s) - T0 ))s (RINGLB_IMAGE_BOOT_ONLY=1: the other checks were skipped)"; exit 0; fi
    say "image test passed in $(( $(date +%s) - T0 ))s"
}

main "$@"
