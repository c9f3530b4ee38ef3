#!/usr/bin/env bash
# Appliance image test: build (or reuse) the image, boot clones of it under QEMU + OVMF and
# check from outside that it works.
#
#   1. scripts/build-image --if-changed (reuses an image built from the same inputs)
#   2. two HTTP backends on the host (127.0.0.1; the guest sees them at 10.0.2.2)
#   3. clone A: qcow2 overlay (2 GiB) + config drive (ringlb.toml balancing to both backends,
#      authorized_keys); waits for HTTP through the forwarded port, then checks:
#      both backends get requests, sysctls applied, ringlb runs as user ringlb (read over SSH
#      with the key from the config drive), the root file system grew to fill the disk
#   4. clone B: another overlay of the same image, config drive with a *bad* ringlb.toml:
#      the rejection is reported on the serial console and the default placeholder serves;
#      A and B have different machine-ids, SSH host keys and hostnames (ringlb-<machine-id>).
#
# Each boot is bounded (RINGLB_IMAGE_BOOT_TIMEOUT, default 300 s) and retried once; the whole
# run is bounded by RINGLB_IMAGE_TEST_TIMEOUT (default 2400 s, image build included).
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
    for tool in qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 mkfs.vfat mcopy sfdisk objcopy \
        zstd curl ssh ssh-keygen ssh-keyscan python3 flock; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [[ -f /usr/lib/systemd/boot/efi/linuxx64.efi.stub ]] || missing+=(systemd-boot-efi)
    [[ -f /usr/share/OVMF/OVMF_CODE_4M.fd || -f /usr/share/OVMF/OVMF_CODE.fd ]] || missing+=(ovmf)
    (( ${#missing[@]} == 0 )) || skip "missing on this host: ${missing[*]}
  install: apt-get install debootstrap mtools dosfstools e2fsprogs qemu-utils fdisk systemd-boot-efi ovmf qemu-system-x86 zstd curl openssh-client"
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

# boot NAME CONFIG_DIR EXPECT: boot a fresh overlay; wait until http://127.0.0.1:HTTP_PORT/
# answers with a body containing EXPECT. Retries once. Sets VM_PID, HTTP_PORT, SSH_PORT,
# SERIAL, BOOT_SECONDS.
boot() {
    local name=$1 cfg=$2 expect=$3 attempt
    for attempt in 1 2; do
        if boot_once "$name-$attempt" "$cfg" "$expect"; then return 0; fi
        say "boot of $name failed (attempt $attempt); last serial lines:"
        tail -n 15 "$SERIAL" 2>/dev/null | sed 's/^/    | /' || true
        stop_vm
    done
    die "$name never served HTTP"
}

boot_once() {
    local name=$1 cfg=$2 expect=$3 state=$WORK/$1 start now body="" last=0
    mkdir -p "$state"
    HTTP_PORT=$(free_port)
    SSH_PORT=$(free_port)
    while [[ $SSH_PORT == "$HTTP_PORT" ]]; do SSH_PORT=$(free_port); done
    SERIAL=$state/serial.log
    say "booting $name ($ACCEL): http 127.0.0.1:$HTTP_PORT, ssh 127.0.0.1:$SSH_PORT, serial $SERIAL"
    start=$(date +%s)
    "$REPO/scripts/run-appliance" --image "$IMAGE" --accel "$ACCEL" --state-dir "$state" \
        --config-drive "$cfg" --disk-size 2G --http-port "$HTTP_PORT" --ssh-port "$SSH_PORT" \
        --serial "$SERIAL" --no-reboot > "$state/qemu.log" 2>&1 &
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
            BOOT_SECONDS=$(( $(date +%s) - start ))
            say "$name serves HTTP after ${BOOT_SECONDS}s (QEMU start to first good response)"
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
        sleep 3
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

test_clone_a() {
    local cfg=$WORK/config-a
    mkdir -p "$cfg"
    cp "$WORK/id_ed25519.pub" "$cfg/authorized_keys"
    cat > "$cfg/ringlb.toml" <<EOF
[frontend.www]
bind = "0.0.0.0:80"
default_backend = "hosts"

[backend.hosts]
balance = "roundrobin"

[[backend.hosts.server]]
name = "a"
address = "10.0.2.2:$PORT_A"

[[backend.hosts.server]]
name = "b"
address = "10.0.2.2:$PORT_B"
EOF
    boot clone-a "$cfg" "backend-"
    BOOT_A=$BOOT_SECONDS

    # Requests through the balancer reach both backends.
    local i body n_a=0 n_b=0
    for (( i = 0; i < 12; i++ )); do
        body=$(curl -s -m 10 "http://127.0.0.1:$HTTP_PORT/" || true)
        case "$body" in
            backend-a*) n_a=$((n_a + 1)) ;;
            backend-b*) n_b=$((n_b + 1)) ;;
        esac
    done
    if (( n_a > 0 && n_b > 0 )); then pass "12 requests through the appliance: $n_a to backend a, $n_b to backend b"
    else fail "requests did not reach both backends (a: $n_a, b: $n_b)"; fi
    grep -q '"GET / HTTP/1.1" 200' "$WORK/backend-a.log" || fail "backend a log shows no proxied request"

    wait_ssh "$SSH_PORT" || { fail "no SSH login with the config-drive key"; return; }
    pass "SSH login as root with the key from the config drive"

    # Sysctls from /etc/sysctl.d/60-ringlb.conf, read from /proc/sys.
    local kv key want got
    for kv in "${SYSCTLS[@]}"; do
        key=${kv%%=*}; want=${kv#*=}
        got=$(ssh_vm "$SSH_PORT" cat "/proc/sys/${key//.//}" | tr -s '\t ' ' ')
        if [[ $got == "$want" ]]; then pass "sysctl $key = $got"
        else fail "sysctl $key = '$got', expected $want"; fi
    done

    # ringlb runs unprivileged, as user ringlb.
    local status
    # shellcheck disable=SC2016 # expanded in the guest
    status=$(ssh_vm "$SSH_PORT" 'pid=$(systemctl show -p MainPID --value ringlb.service); [ "$pid" -gt 0 ] && echo "$(stat -c %U /proc/$pid) $(awk "/^Uid:/ { print \$2 }" /proc/$pid/status)"')
    if [[ $status == ringlb\ [1-9]* ]]; then pass "ringlb runs as user ringlb (user, uid: $status)"
    else fail "ringlb process owner: '$status'"; fi

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
    stop_vm
}

test_clone_b() {
    local cfg=$WORK/config-b
    mkdir -p "$cfg"
    cp "$WORK/id_ed25519.pub" "$cfg/authorized_keys"
    printf '[frontend.www]\nbind = "0.0.0.0:80"\ndefault_backend = "nope"\nlisten_harder = true\n' > "$cfg/ringlb.toml"
    # The bad ringlb.toml must not replace the default: the placeholder page serves.
    boot clone-b "$cfg" "not configured yet"
    BOOT_B=$BOOT_SECONDS
    pass "bad config-drive ringlb.toml kept the default configuration (placeholder page served)"
    if grep -qa 'ringlb.toml on the config drive REJECTED' "$SERIAL"; then
        pass "rejection reported on the serial console: $(grep -a 'error:' "$SERIAL" | head -n1 | tr -cd '[:print:]' | cut -c1-140)"
    else
        fail "serial console does not report the rejected ringlb.toml"
    fi

    wait_ssh "$SSH_PORT" || { fail "clone-b: no SSH login"; return; }
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

    mkdir -p "$OUT"
    WORK=$(mktemp -d "$OUT/test-XXXXXX")
    ACCEL=${RINGLB_IMAGE_ACCEL:-$("$REPO/scripts/run-appliance" --probe-accel)}
    say "accelerator: $ACCEL"

    ssh-keygen -q -t ed25519 -N '' -C ringlb-image-test -f "$WORK/id_ed25519"
    PORT_A=$(free_port); start_backend a "$PORT_A"
    PORT_B=$(free_port); start_backend b "$PORT_B"   # a's port is taken now: they differ
    say "backends on 127.0.0.1:$PORT_A and 127.0.0.1:$PORT_B (10.0.2.2 in the guest)"

    test_clone_a
    test_clone_b

    say "boot to serving: clone-a ${BOOT_A}s, clone-b ${BOOT_B}s ($ACCEL)"
    if (( FAILED )); then say "image test FAILED"; exit 1; fi
    say "image test passed in $(( $(date +%s) - T0 ))s"
}

main "$@"
