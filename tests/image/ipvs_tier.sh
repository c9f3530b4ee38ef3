#!/bin/bash
# The IPVS tier of docs/ha.md inside the appliance (its kernel has ip_vs): run by
# tests/image/run.sh (test_ipvs_tier) in a booted guest, as root, with the director's
# keepalived.conf rendered by `ringlb ha render` from [ha] + [ha.lvs] on standard input.
#
#   netns ipvs-sw: bridge br0
#   ipvs-dir .2   director: keepalived (VRRP holds the VIP, IPVS virtual_server in DR mode)
#   ipvs-lbN .1N  N ringlb hosts: VIP on lo, arp_ignore=1, arp_announce=2, ringlb on 0.0.0.0:80
#                 proxying to a backend of their own (busybox httpd on 127.0.0.1:8080 that
#                 answers "lbN")
#   ipvs-cl .31   a client requesting http://VIP/ one request after the other (busybox wget)
#
# Once every host has served, ringlb on lb2 is stopped (SIGTERM); the client goes on. Prints
# `key value…` lines for run.sh to judge (spread, failover seconds, counts), and `error …` for
# anything that went wrong on the way. Everything it starts is stopped and its namespaces are
# removed at exit.
set -u

N=${1:-3}
VIP=10.77.0.100
DIR=/run/ringlb-ipvs-test
BEFORE=${IPVS_BEFORE:-8}      # requests each host must have served before the stop
AFTER_SECS=${IPVS_AFTER:-3}   # seconds of traffic after lb2 left the director's table
PIDS=()

cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for ns in $(ip netns list | awk '$1 ~ /^ipvs-/ { print $1 }'); do
        for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns"
    done
}
trap cleanup EXIT
fail() { echo "error $*"; exit 1; }
now() { echo "${EPOCHREALTIME/,/.}"; }

rm -rf "$DIR"; mkdir -p "$DIR"
cat > "$DIR/director.conf" || fail "no keepalived.conf on stdin"
modprobe ip_vs || fail "modprobe ip_vs"
echo "ipvs_module $(cat /sys/module/ip_vs/initstate 2>/dev/null || echo absent)"

ip netns add ipvs-sw || fail "ip netns add"
ip -n ipvs-sw link add br0 type bridge || fail bridge
ip -n ipvs-sw link set br0 up || fail bridge
host() {   # host NAME ADDR
    ip netns add "ipvs-$1" || fail "netns $1"
    ip -n ipvs-sw link add "$1" type veth peer name eth0 netns "ipvs-$1" || fail "veth $1"
    ip -n ipvs-sw link set "$1" master br0 up
    ip -n "ipvs-$1" addr add "$2/24" dev eth0
    ip -n "ipvs-$1" link set eth0 up
    ip -n "ipvs-$1" link set lo up
}
host dir 10.77.0.2
host cl 10.77.0.31
for (( i = 1; i <= N; i++ )); do
    host "lb$i" "10.77.0.1$i"
    # Direct routing: the VIP on lo, never announced or answered for by ARP.
    ip -n "ipvs-lb$i" addr add "$VIP/32" dev lo || fail "VIP on lo of lb$i"
    ip netns exec "ipvs-lb$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        || fail "arp sysctls in lb$i"
    mkdir -p "$DIR/www-lb$i"
    echo "lb$i" > "$DIR/www-lb$i/index.html"
    ip netns exec "ipvs-lb$i" busybox httpd -f -p 127.0.0.1:8080 -h "$DIR/www-lb$i" &
    PIDS+=($!)
    cat > "$DIR/lb$i.toml" <<EOT
[global]
workers = 1
admin_socket = "$DIR/lb$i.sock"

[frontend.www]
bind = "0.0.0.0:80"
default_backend = "local"

[backend.local]
[[backend.local.server]]
name = "httpd"
address = "127.0.0.1:8080"
EOT
    ip netns exec "ipvs-lb$i" ringlb run -c "$DIR/lb$i.toml" > "$DIR/lb$i.log" 2>&1 &
    PIDS+=($!)
    eval "RINGLB_$i=\$!"
done
for (( i = 1; i <= N; i++ )); do
    for (( t = 0; t < 100; t++ )); do
        ringlb ha check --socket "$DIR/lb$i.sock" 2>/dev/null && break
        sleep 0.2
    done
    ringlb ha check --socket "$DIR/lb$i.sock" || fail "ringlb in lb$i not ready: $(tail -n 3 "$DIR/lb$i.log" | tr '\n' ' ')"
done
echo "arp_ignore_lb1 $(ip netns exec ipvs-lb1 sysctl -n net.ipv4.conf.all.arp_ignore) arp_announce_lb1 $(ip netns exec ipvs-lb1 sysctl -n net.ipv4.conf.all.arp_announce)"

# The director: VRRP and the IPVS checkers (no -P / -C).
ip netns exec ipvs-dir keepalived -n -l -D -G -f "$DIR/director.conf" -p "$DIR/keepalived.pid" \
    -r "$DIR/vrrp.pid" -c "$DIR/checkers.pid" > "$DIR/keepalived.log" 2>&1 &
PIDS+=($!)
# Real servers in the director's IPVS table: "  -> 0A4D000B:0050      Route   1      0          0".
rs_count() { ip netns exec ipvs-dir cat /proc/net/ip_vs 2>/dev/null | grep -c -- '-> .* Route '; }
for (( t = 0; t < 150; t++ )); do
    if ip -n ipvs-dir -o addr show dev eth0 | grep -q " $VIP/24 " && (( $(rs_count) == N )); then break; fi
    sleep 0.2
done
ip -n ipvs-dir -o addr show dev eth0 | grep -q " $VIP/24 " || fail "the director never took $VIP: $(tail -n 5 "$DIR/keepalived.log" | tr '\n' ' ')"
(( $(rs_count) == N )) || fail "IPVS has $(rs_count) of $N real servers: $(tr '\n' ' ' < /proc/net/ip_vs) $(tail -n 8 "$DIR/keepalived.log" | tr '\n' ' ')"
echo "ipvs_table $(ip netns exec ipvs-dir cat /proc/net/ip_vs | grep -c -- '->') entries, $N real servers, lb_kind $(ip netns exec ipvs-dir cat /proc/net/ip_vs | awk '/->/ && $3 != "Forward" { print $3; exit }')"

# The client, inside its namespace: one request after the other, "EPOCH BODY" per line (FAIL
# when it failed), until client.stop exists.
cat > "$DIR/client.sh" <<'EOT'
while [[ ! -e $1/client.stop ]]; do
    t=${EPOCHREALTIME/,/.}
    b=$(busybox wget -q -T 2 -O - "http://$2/" 2>/dev/null) || b=FAIL
    echo "$t ${b:-EMPTY}"
done
EOT
ip netns exec ipvs-cl bash "$DIR/client.sh" "$DIR" "$VIP" > "$DIR/client.log" &
CLIENT=$!
PIDS+=("$CLIENT")

served() { awk -v lb="$1" '$2 == lb' "$DIR/client.log" | wc -l; }
for (( t = 0; t < 600; t++ )); do
    ok=1
    for (( i = 1; i <= N; i++ )); do (( $(served "lb$i") >= BEFORE )) || ok=0; done
    (( ok )) && break
    sleep 0.1
done
spread=""
for (( i = 1; i <= N; i++ )); do spread+=" lb$i=$(served "lb$i")"; done
echo "spread$spread failed=$(awk '$2 == "FAIL"' "$DIR/client.log" | wc -l)"

# Stop ringlb on lb2. A watcher in the director's namespace (shell builtins only, no process
# per look), started first, notes when lb2 (0A4D000C) leaves the IPVS table; the client goes on
# for AFTER_SECS more seconds after that.
cat > "$DIR/watch.sh" <<'EOT'
end=$(( EPOCHSECONDS + $2 ))
exec 9<> <(:)
echo watching > "$1/watching"
while (( EPOCHSECONDS < end )); do
    mapfile -t table < /proc/net/ip_vs
    [[ "${table[*]}" == *"-> 0A4D000C:"* ]] || { echo "${EPOCHREALTIME/,/.}"; exit 0; }
    read -rt 0.02 -u 9 || true
done
echo 0
EOT
ip netns exec ipvs-dir bash "$DIR/watch.sh" "$DIR" 30 > "$DIR/removed" &
WATCH=$!
PIDS+=("$WATCH")
for (( t = 0; t < 300; t++ )); do [[ -s $DIR/watching ]] && break; sleep 0.1; done
STOP=$(now)
kill -TERM "$RINGLB_2"
wait "$WATCH" 2>/dev/null
sleep "$AFTER_SECS"
removed=$(cat "$DIR/removed" 2>/dev/null)
[[ $removed == 0 ]] && removed=""
touch "$DIR/client.stop"
wait "$CLIENT" 2>/dev/null

echo "stopped_at $STOP"
echo "removed_after $(awk -v a="$STOP" -v b="${removed:-0}" 'BEGIN { if (b == 0) print "never"; else printf "%.2f", b - a }')"
# After the stop: requests that failed or reached lb2 while it was leaving, the first good
# request after the last of them, and who served the requests that started after the director
# removed lb2.
awk -v s="$STOP" -v r="${removed:-0}" '
    $1 >= s {
        n++; t[n] = $1; b[n] = $2
        if ($2 == "FAIL" || $2 == "lb2" || $2 == "EMPTY") { last = $1; nbad++ }
    }
    END {
        for (i = 1; i <= n; i++) if (t[i] > last && moved == "") moved = t[i]
        for (i = 1; i <= n; i++) if (r > 0 && t[i] >= r) { c[b[i]]++; later++ }
        printf "after_stop requests=%d bad=%d\n", n, nbad
        if (moved == "") print "moved_after never"; else printf "moved_after %.2f\n", moved - s
        printf "after_removed requests=%d", later; for (k in c) printf " %s=%d", k, c[k]; printf "\n"
    }' "$DIR/client.log"
echo "keepalived_log $(grep -c 'Removing service' "$DIR/keepalived.log") removals: $(grep -m1 'Removing service' "$DIR/keepalived.log" | cut -c1-160)"
echo "done"
