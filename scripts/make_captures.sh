#!/usr/bin/env bash
# Labelled captures made with real tools: hosts in network namespaces joined by a bridge (itself in
# a namespace of its own, so nothing touches the host's network), a victim running real services
# (nginx, sshd, vsftpd, dnsmasq), benign clients (curl, wrk, dig, iperf3, ssh) and one attack per capture
# (nmap, masscan, hping3, slowhttptest, hydra, medusa, ncrack, dnsperf). Every loop is bounded in count and time and
# targets only the lab's addresses (10.77.0.0/24).
#
# Usage (root): scripts/make_captures.sh [OUT_DIR]      (default /var/cache/traffic_analyzer/captures)
#   SCENARIOS="port_scan_syn syn_flood ..."  which ones (default: all; `benign` has no attack)
#   SEEDS="1 2 3"                             variants per scenario (rates, ports, timing vary by seed)
#
# For each capture NAME.pcap (and the attack tool's output in NAME.attack.log), NAME.labels.json says when each attack ran, its class, attackers and
# victims: {"capture", "scenario", "seed", "start", "end", "attacks": [{"class", "start", "end",
# "attackers": [...], "victims": [...], "command"}]} (times: Unix seconds, wall clock = capture time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/var/cache/traffic_analyzer/captures}
ALL_SCENARIOS="benign port_scan_syn port_scan_connect port_scan_udp port_scan_version port_scan_masscan
    port_scan_fin port_scan_xmas port_scan_null port_scan_ack port_scan_maimon port_scan_window port_scan_slow
    sweep_ping sweep_port port_scan_v6 sweep_v6 syn_flood syn_flood_low syn_flood_distributed udp_flood_distributed icmp_flood_distributed
    ack_flood rst_flood udp_flood_spoofed syn_flood_spoofed udp_flood icmp_flood udp_flood_low icmp_flood_low
    brute_force_ssh brute_force_ftp brute_force_ssh_medusa brute_force_ssh_ncrack brute_force_http
    slowloris slow_read slow_post dns_flood dns_flood_ports dns_flood_clients
    benign_resolver benign_web_load benign_ssh"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
SEEDS=${SEEDS:-1}
TOOLS=(nmap hping3 masscan slowhttptest hydra medusa ncrack iperf3 wrk dnsperf dnsmasq-base vsftpd openssh-server nginx-light
       tcpdump dnsutils curl iputils-ping)

LAB=ta-lab                      # namespace prefix
NET=10.77.0
VICTIM=$NET.10
ATTACKER=$NET.66
CLIENT1=$NET.21
CLIENT2=$NET.22
# Absent hosts for sweeps: the attacker routes this range through the victim, which does not
# forward, so every probe is seen on the lab's bridge and none is answered.
ABSENT=10.78.0.0/24
# IPv6, for the IPv6 scans only (unique local addresses on the victim and the attacker).
VICTIM6=fd77::10
ATTACKER6=fd77::66
ABSENT6=fd78::
WARMUP=${WARMUP:-6}             # benign-only seconds before and after the attack
ATTACK_SECS=${ATTACK_SECS:-20}  # upper bound of each attack

[ "$(id -u)" = 0 ] || { echo "make_captures.sh: run as root (network namespaces)" >&2; exit 1; }
# shellcheck source=common.sh
. "$ROOT/scripts/common.sh"

install_tools() {
    local missing=()
    for pkg in "${TOOLS[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    # The packages' services must not start on the host: they run only inside the lab.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    rm -f /usr/sbin/policy-rc.d
}

in_ns() { local ns=$1; shift; ip netns exec "$LAB-$ns" "$@"; }

teardown() {
    # The capture first, gently, so it flushes its last packets.
    if ip netns list | grep -qw "$LAB-net"; then
        for pid in $(ip netns pids "$LAB-net" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
        for _ in $(seq 1 20); do [ -z "$(ip netns pids "$LAB-net" 2>/dev/null)" ] && break; sleep 0.1; done
    fi
    local bots
    bots=$(ip netns list | awk '{print $1}' | grep "^$LAB-bot" | sed "s/^$LAB-//" || true)
    for ns in net victim attacker client1 client2 $bots; do
        if ip netns list | grep -qw "$LAB-$ns"; then
            for pid in $(ip netns pids "$LAB-$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$LAB-$ns" 2>/dev/null || true
        fi
    done
}

setup_lab() {
    teardown
    ip netns add "$LAB-net"
    in_ns net ip link add br0 type bridge
    in_ns net ip link set br0 up
    in_ns net ip link set lo up
    in_ns net sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    local host
    for host in victim:$VICTIM attacker:$ATTACKER client1:$CLIENT1 client2:$CLIENT2; do
        add_host "${host%%:*}" "${host#*:}"
    done
}

# A host NAME (namespace $LAB-NAME) with ADDRESS/24 on the lab's bridge.
add_host() {
    local host=$1 address=$2
    ip netns add "$LAB-$host"
    ip link add "v-$host" type veth peer name eth0 netns "$LAB-$host"
    ip link set "v-$host" netns "$LAB-net"
    in_ns net ip link set "v-$host" master br0 up
    # IPv4 only: link-local IPv6 chatter (router solicitations, MLD) from the lab's own hosts
    # would show up as extra "hosts" with unlabelled traffic.
    in_ns "$host" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    in_ns "$host" ip addr add "$address/24" dev eth0
    in_ns "$host" ip link set eth0 up
    in_ns "$host" ip link set lo up
}

# IPv6 on a lab host (the IPv6 scans): a static address, no duplicate address detection, no
# router solicitations, so the host says nothing on IPv6 it is not asked to.
enable_ipv6() {
    local host=$1 address=$2
    in_ns "$host" sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.router_solicitations=0 \
        net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.eth0.disable_ipv6=0
    in_ns "$host" ip -6 addr add "$address/64" dev eth0 nodad
}

# `count` more attackers (namespaces bot1.., addresses .101 up) on the lab's bridge; prints their
# addresses, comma-separated.
add_bots() {
    local count=$1 i list=""
    for i in $(seq 1 "$count"); do
        add_host "bot$i" "$NET.$((100 + i))"
        list=${list:+$list,}$NET.$((100 + i))
    done
    echo "$list"
}

# A flood from many real sources (5 to 50 over the seeds), each at a modest rate: hping3 with the
# given flags from every bot for the attack's time. Prints the bots' addresses.
bots_flood() {
    local seed=$1 bots i pid pids=()
    shift
    bots=$(add_bots $((seed * 8 - 4)))
    for i in $(seq 1 $((seed * 8 - 4))); do
        in_ns "bot$i" timeout "$ATTACK_SECS" hping3 "$@" -i u$((20000 - 2000 * seed)) -c $((ATTACK_SECS * 60)) \
            "$VICTIM" > /dev/null 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    echo "$bots"
}

# A dnsperf query file: 2,000 names the victim's resolver does not know and one it does.
dns_queries() {
    local file=$1 seed=$2 i
    for i in $(seq 1 2000); do echo "h$i-$seed.lab.test A"; done > "$file"
    echo "www.lab.test A" >> "$file"
}

# Real services on the victim, configured in a scratch directory.
start_services() {
    local dir=$1
    mkdir -p "$dir/www/docs" "$dir/nginx" /run/sshd /var/run/vsftpd/empty
    for i in $(seq 1 20); do head -c $((i * 997)) /dev/urandom | base64 > "$dir/www/docs/page$i.html"; done
    echo '<html><body>lab</body></html>' > "$dir/www/index.html"
    mkdir -p "$dir/www/admin"
    echo '<html><body>admin</body></html>' > "$dir/www/admin/index.html"
    # HTTP basic auth on /admin/ (nginx's {PLAIN} scheme: a lab password, not in the word list).
    echo 'admin:{PLAIN}lab-only-secret' > "$dir/htpasswd"
    cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/nginx; proxy_temp_path $dir/nginx; fastcgi_temp_path $dir/nginx;
    uwsgi_temp_path $dir/nginx; scgi_temp_path $dir/nginx;
    server {
        listen $VICTIM:80; root $dir/www; keepalive_timeout 30;
        location /admin/ { auth_basic lab; auth_basic_user_file $dir/htpasswd; }
        # An upload handler: nginx reads the whole body before it passes it on (to no one), as
        # an application server would; a static page refuses a POST at once (405).
        location /upload/ { client_max_body_size 1m; proxy_pass http://127.0.0.1:9; }
    }
}
EOF
    in_ns victim nginx -c "$dir/nginx.conf" -p "$dir"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_key" <<< y > /dev/null
    cat > "$dir/sshd_config" <<EOF
ListenAddress $VICTIM
HostKey $dir/ssh_host_key
PidFile $dir/sshd.pid
PasswordAuthentication yes
MaxStartups 200:30:400
MaxAuthTries 6
UsePAM no
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
EOF
    in_ns victim /usr/sbin/sshd -f "$dir/sshd_config"
    cat > "$dir/vsftpd.conf" <<EOF
listen=YES
listen_address=$VICTIM
anonymous_enable=NO
local_enable=YES
max_clients=200
max_per_ip=200
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
EOF
    in_ns victim sh -c "vsftpd '$dir/vsftpd.conf' > '$dir/vsftpd.log' 2>&1 &"
    in_ns victim dnsmasq --listen-address="$VICTIM" --bind-interfaces --no-resolv --no-hosts \
        --local=/lab.test/ --address="/www.lab.test/$VICTIM" --address="/mail.lab.test/$VICTIM" \
        --pid-file="$dir/dnsmasq.pid" --cache-size=0
    in_ns victim sh -c "iperf3 -s -B $VICTIM -D --logfile '$dir/iperf3.log'"
    sleep 1
}

# Benign traffic for `secs` seconds from the two clients: page loads, keep-alive load at a modest
# rate, name lookups (some of missing names), a bulk transfer. Runs in the background.
start_benign() {
    local secs=$1 seed=$2
    in_ns client1 bash -c "end=\$((SECONDS + $secs)); n=0
        while [ \$SECONDS -lt \$end ] && [ \$n -lt 100000 ]; do
            curl -s -o /dev/null --max-time 2 http://$VICTIM/docs/page\$((n % 20 + 1)).html || true
            [ \$((n % 7)) = 0 ] && curl -s -o /dev/null --max-time 2 http://$VICTIM/missing\$n || true
            n=\$((n + 1)); sleep 0.\$((RANDOM % 4 + 1))
        done" > /dev/null 2>&1 &
    in_ns client2 bash -c "end=\$((SECONDS + $secs)); n=0
        while [ \$SECONDS -lt \$end ] && [ \$n -lt 100000 ]; do
            dig +short +time=1 +tries=1 @$VICTIM www.lab.test > /dev/null || true
            [ \$((n % 5)) = 0 ] && { dig +short +time=1 +tries=1 @$VICTIM host\$n.lab.test > /dev/null || true; }
            n=\$((n + 1)); sleep 0.\$((RANDOM % 5 + 2))
        done" > /dev/null 2>&1 &
    # wrk, paced by its Lua delay hook: 2-4 keep-alive connections, ~20 requests/s each.
    echo 'function delay() return 40 + math.random(20) end' > "$BENIGN_DIR/pace.lua"
    in_ns client2 timeout "$secs" wrk -t1 -c$((2 + seed % 3)) -d"${secs}s" -s "$BENIGN_DIR/pace.lua" \
        "http://$VICTIM/docs/page3.html" > /dev/null 2>&1 &
    in_ns client1 bash -c "sleep $((secs / 3)); timeout 8 iperf3 -c $VICTIM -t 3 -b $((20 + seed * 10))M > /dev/null 2>&1" &
}

# The attack of a scenario (bounded), run in the scratch directory (hydra writes a restore file):
# the tools' output, then "LABEL: CLASS ATTACKER [VICTIM]" ("-" for spoofed or no attacker, or
# for no single victim; the victim defaults to the lab's).
run_attack() {
    local scenario=$1 seed=$2 dir=$3
    # Grows with the seed, so the held-back seed 3 lies inside the range the others train on.
    local rate=$((400 + 600 * seed))
    local T=$ATTACK_SECS
    case $scenario in
        port_scan_syn)
            in_ns attacker timeout "$T" nmap -sS -n -Pn -T$((3 + seed % 3)) -p 1-$((2000 * seed)) --max-retries 1 "$VICTIM"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        port_scan_connect)
            in_ns attacker timeout "$T" nmap -sT -n -Pn -T4 --top-ports $((500 * seed)) --max-retries 1 "$VICTIM"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        port_scan_udp)
            in_ns attacker timeout "$T" nmap -sU -n -Pn -T4 --top-ports $((100 * seed)) --max-retries 1 \
                --min-rate 300 "$VICTIM"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        port_scan_version)
            in_ns attacker timeout "$T" nmap -sV -n -Pn -T4 --top-ports $((200 * seed)) "$VICTIM"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        port_scan_fin | port_scan_xmas | port_scan_null | port_scan_ack | port_scan_maimon | port_scan_window)
            # The TCP scans whose probes are not SYNs (nmap -sF -sX -sN -sA -sM -sW).
            local -A flags=([fin]=-sF [xmas]=-sX [null]=-sN [ack]=-sA [maimon]=-sM [window]=-sW)
            in_ns attacker timeout "$T" nmap "${flags[${scenario#port_scan_}]}" -n -Pn -T4 -p 1-$((300 * seed)) \
                --max-retries 1 "$VICTIM"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        port_scan_slow)
            # Polite timing (0.4 s between probes): a dozen probes per 5 s window, many per 30 s.
            in_ns attacker timeout "$T" nmap -sS -n -Pn -T2 -p 1-1000 "$VICTIM"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        sweep_ping)
            # Host discovery (ICMP echo and timestamp, SYN to 443, ACK to 80) across absent hosts.
            in_ns attacker ip route add "$ABSENT" via "$VICTIM"
            in_ns attacker timeout "$T" nmap -sn -n -T4 "$ABSENT"
            echo "LABEL: Host_Sweep $ATTACKER -" ;;
        sweep_port)
            # One port across a range of absent hosts (a horizontal scan).
            in_ns attacker ip route add "$ABSENT" via "$VICTIM"
            in_ns attacker timeout "$T" nmap -sS -n -Pn -T4 -p $((seed % 2 == 1 ? 22 : 445)) --max-retries 1 "$ABSENT"
            echo "LABEL: Host_Sweep $ATTACKER -" ;;
        port_scan_v6)
            # A SYN scan over IPv6 (the victim serves nothing there: every port refuses).
            enable_ipv6 victim "$VICTIM6"
            enable_ipv6 attacker "$ATTACKER6"
            sleep 1
            in_ns attacker timeout "$T" nmap -6 -sS -n -Pn -T4 -p 1-$((300 * seed)) --max-retries 1 "$VICTIM6"
            echo "LABEL: Port_Scan $ATTACKER6 $VICTIM6" ;;
        sweep_v6)
            # Host discovery across 256 absent IPv6 hosts routed through the victim.
            enable_ipv6 victim "$VICTIM6"
            enable_ipv6 attacker "$ATTACKER6"
            in_ns attacker ip -6 route add "$ABSENT6/120" via "$VICTIM6"
            for i in $(seq 0 255); do printf '%s%x\n' "$ABSENT6" "$i"; done > "$dir/absent6"
            sleep 1
            in_ns attacker timeout "$T" nmap -6 -sn -n -T4 -iL "$dir/absent6"
            echo "LABEL: Host_Sweep $ATTACKER6 -" ;;
        port_scan_masscan)
            local mac
            mac=$(in_ns victim cat /sys/class/net/eth0/address)
            in_ns attacker timeout "$T" masscan "$VICTIM" -p1-$((10000 * seed)) --rate "$rate" \
                --interface eth0 --adapter-ip "$ATTACKER" --router-mac "$mac" --wait 2 --seed "$seed"
            echo "LABEL: Port_Scan $ATTACKER" ;;
        syn_flood)
            in_ns attacker timeout "$T" hping3 -S -p 80 -i u$((400 / seed)) -c $((T * 2500 * seed)) "$VICTIM"
            echo "LABEL: SYN_Flood $ATTACKER" ;;
        syn_flood_low)
            # A few hundred SYNs a second from one source.
            in_ns attacker timeout "$T" hping3 -S -p 80 -i u$((10000 / seed)) -c $((T * 100 * seed)) "$VICTIM"
            echo "LABEL: SYN_Flood $ATTACKER" ;;
        syn_flood_distributed)
            echo "LABEL: SYN_Flood $(bots_flood "$seed" -S -p 80)" ;;
        udp_flood_distributed)
            echo "LABEL: UDP_Flood $(bots_flood "$seed" --udp -p $((1000 + seed * 111)) -d 128)" ;;
        icmp_flood_distributed)
            echo "LABEL: ICMP_Flood $(bots_flood "$seed" --icmp -d 64)" ;;
        ack_flood | rst_flood)
            # TCP floods of other flags (no handshake to leave half-open).
            in_ns attacker timeout "$T" hping3 "$([ "$scenario" = ack_flood ] && echo -A || echo -R)" -p 80 \
                -i u$((400 / seed)) -c $((T * 2500 * seed)) "$VICTIM"
            echo "LABEL: TCP_Flood $ATTACKER" ;;
        udp_flood_spoofed)
            in_ns attacker timeout "$T" hping3 --udp -p 53 --rand-source -i u$((400 / seed)) \
                -c $((T * 2500 * seed)) "$VICTIM"
            echo "LABEL: UDP_Flood -" ;;
        syn_flood_spoofed)
            # Random source addresses: the attacker is not named, only the victim.
            in_ns attacker timeout "$T" hping3 -S -p $((seed % 2 == 1 ? 80 : 22)) --rand-source \
                -i u$((400 / seed)) -c $((T * 2500 * seed)) "$VICTIM"
            echo "LABEL: SYN_Flood -" ;;
        udp_flood)
            in_ns attacker timeout "$T" hping3 --udp -p $((1000 + seed * 111)) -d $((64 * seed)) \
                -i u$((400 / seed)) -c $((T * 2500 * seed)) "$VICTIM"
            echo "LABEL: UDP_Flood $ATTACKER" ;;
        icmp_flood)
            in_ns attacker timeout "$T" hping3 --icmp -d $((56 * seed)) -i u$((400 / seed)) \
                -c $((T * 2500 * seed)) "$VICTIM"
            echo "LABEL: ICMP_Flood $ATTACKER" ;;
        brute_force_ssh)
            shuf -n 3000 --random-source=<(yes "$seed") "$dir/words" > "$dir/passwords"
            in_ns attacker timeout "$T" hydra -l root -P "$dir/passwords" -t $((2 * seed + 2)) -w 3 -I \
                "ssh://$VICTIM" || true
            echo "LABEL: Brute_Force $ATTACKER" ;;
        brute_force_ftp)
            shuf -n 3000 --random-source=<(yes "$seed") "$dir/words" > "$dir/passwords"
            # medusa: hydra's FTP module gives up against vsftpd after one password per task
            # (4 connections, 4 passwords in 20 s); medusa keeps guessing, a connection a password.
            in_ns attacker timeout "$T" medusa -h "$VICTIM" -u admin -P "$dir/passwords" -M ftp -t $((2 * seed + 2)) || true
            echo "LABEL: Brute_Force $ATTACKER" ;;
        brute_force_ssh_medusa)
            shuf -n 3000 --random-source=<(yes "$seed") "$dir/words" > "$dir/passwords"
            in_ns attacker timeout "$T" medusa -h "$VICTIM" -u root -P "$dir/passwords" -M ssh -t $((seed + 1)) || true
            echo "LABEL: Brute_Force $ATTACKER" ;;
        brute_force_ssh_ncrack)
            shuf -n 3000 --random-source=<(yes "$seed") "$dir/words" > "$dir/passwords"
            in_ns attacker timeout "$T" ncrack --user root -P "$dir/passwords" -T$((2 + seed % 3)) "ssh://$VICTIM" || true
            echo "LABEL: Brute_Force $ATTACKER" ;;
        brute_force_http)
            # HTTP basic auth: every wrong password a 401.
            shuf -n 3000 --random-source=<(yes "$seed") "$dir/words" > "$dir/passwords"
            in_ns attacker timeout "$T" hydra -l admin -P "$dir/passwords" -t $((2 * seed)) -w 3 -I \
                "http-get://$VICTIM/admin/" || true
            echo "LABEL: Brute_Force $ATTACKER" ;;
        slow_post)
            # Slow request bodies (slowhttptest -B) to the upload handler: a large Content-Length,
            # sent a few bytes at a time.
            in_ns attacker timeout $((T + 5)) slowhttptest -B -c $((150 * seed)) -r $((50 * seed)) -i 10 -s 8192 \
                -t POST -u "http://$VICTIM/upload/" -l "$T" -p 3 > /dev/null
            echo "LABEL: Slow_DoS $ATTACKER" ;;
        slowloris)
            in_ns attacker timeout $((T + 5)) slowhttptest -H -c $((150 * seed)) -r $((50 * seed)) -i 10 \
                -t GET -u "http://$VICTIM/" -l "$T" -p 3 > /dev/null
            echo "LABEL: Slow_DoS $ATTACKER" ;;
        slow_read)
            in_ns attacker timeout $((T + 5)) slowhttptest -X -c $((150 * seed)) -r $((50 * seed)) -w 10 -y 20 \
                -n 5 -z 32 -k 3 -u "http://$VICTIM/docs/page20.html" -l "$T" -p 3 > /dev/null
            echo "LABEL: Slow_DoS $ATTACKER" ;;
        dns_flood)
            dns_queries "$dir/queries" "$seed"
            in_ns attacker timeout $((T + 2)) dnsperf -s "$VICTIM" -d "$dir/queries" -l "$T" \
                -Q $((rate * 2)) -c 20 > /dev/null
            echo "LABEL: DNS_Flood $ATTACKER" ;;
        dns_flood_ports)
            # One client over many source ports (each dnsperf client is a socket of its own).
            dns_queries "$dir/queries" "$seed"
            in_ns attacker timeout $((T + 2)) dnsperf -s "$VICTIM" -d "$dir/queries" -l "$T" \
                -Q $((1000 + 300 * seed)) -c $((50 * seed)) > /dev/null
            echo "LABEL: DNS_Flood $ATTACKER" ;;
        dns_flood_clients)
            # Several clients (3 to 7 over the seeds), 400 queries a second each.
            local bots pids=() pid
            dns_queries "$dir/queries" "$seed"
            bots=$(add_bots $((seed + 2)))
            for i in $(seq 1 $((seed + 2))); do
                in_ns "bot$i" timeout $((T + 2)) dnsperf -s "$VICTIM" -d "$dir/queries" -l "$T" -Q 400 -c 10 \
                    > /dev/null 2>&1 &
                pids+=($!)
            done
            for pid in "${pids[@]}"; do wait "$pid" || true; done
            echo "LABEL: DNS_Flood $bots" ;;
        udp_flood_low)
            # A few hundred datagrams a second from one source.
            in_ns attacker timeout "$T" hping3 --udp -p $((1000 + seed * 111)) -d 64 -i u$((10000 / seed)) \
                -c $((T * 100 * seed)) "$VICTIM"
            echo "LABEL: UDP_Flood $ATTACKER" ;;
        icmp_flood_low)
            in_ns attacker timeout "$T" hping3 --icmp -d 56 -i u$((10000 / seed)) -c $((T * 100 * seed)) "$VICTIM"
            echo "LABEL: ICMP_Flood $ATTACKER" ;;
        benign_resolver)
            # A busy resolver: 10 clients looking names up at 20-60 queries a second each (most
            # known, the rest missing), besides the lab's usual benign traffic.
            local pids=() pid
            add_bots 10 > /dev/null
            for i in $(seq 1 10); do
                for n in $(seq 1 200); do echo "www.lab.test A"; echo "mail.lab.test A"; echo "x$n-$i.lab.test A"; done \
                    > "$dir/queries$i"
                in_ns "bot$i" timeout $((T + 2)) dnsperf -s "$VICTIM" -d "$dir/queries$i" -l "$T" \
                    -Q $((20 + (i * 7 + seed) % 41)) -c 2 > /dev/null 2>&1 &
                pids+=($!)
            done
            for pid in "${pids[@]}"; do wait "$pid" || true; done
            echo "LABEL: Normal -" ;;
        benign_web_load)
            # A busy web server: 50-250 keep-alive connections at ~20 requests a second each, and
            # 10 clients opening a new connection per page.
            local pids=() pid
            add_bots 10 > /dev/null
            in_ns client1 timeout "$T" wrk -t2 -c$((50 * seed)) -d"${T}s" -s "$dir/pace.lua" \
                "http://$VICTIM/docs/page5.html" > /dev/null 2>&1 &
            pids+=($!)
            for i in $(seq 1 10); do
                in_ns "bot$i" bash -c "end=\$((SECONDS + $T)); n=0
                    while [ \$SECONDS -lt \$end ] && [ \$n -lt 2000 ]; do
                        curl -s -o /dev/null --max-time 2 http://$VICTIM/docs/page\$((n % 20 + 1)).html || true
                        n=\$((n + 1)); sleep 0.\$((RANDOM % 3 + 1))
                    done" > /dev/null 2>&1 &
                pids+=($!)
            done
            for pid in "${pids[@]}"; do wait "$pid" || true; done
            echo "LABEL: Normal -" ;;
        benign_ssh)
            # Interactive SSH: 4-10 clients (over the seeds) typing read-only commands a key at a time (50-350 ms
            # apart, pauses between commands) in login sessions, and one copying 20-80 MB out
            # over SSH (a bulk transfer inside an encrypted session).
            local pids=() pid
            local typists=$((2 + 2 * seed))
            add_bots "$typists" > /dev/null
            ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" <<< y > /dev/null
            cp "$dir/client_key.pub" "$dir/authorized_keys"
            local ssh_opts="-i $dir/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
            cat > "$dir/typist.sh" <<'TYPIST'
# Types commands into a login shell as a person would, for $1 seconds at most.
end=$((SECONDS + $1)); n=0
commands=("ls /" "uptime" "date" "cat /etc/hostname" "df -h /" "ps -e | head -5" "echo ok")
sleep 1
while [ $SECONDS -lt $end ] && [ $n -lt 200 ]; do
    line=${commands[$((RANDOM % ${#commands[@]}))]}
    for ((i = 0; i < ${#line}; i++)); do printf '%s' "${line:$i:1}"; sleep 0.$((RANDOM % 30 + 5)); done
    printf '\n'; n=$((n + 1)); sleep $((RANDOM % 3 + 1))
done
printf 'exit\n'
TYPIST
            for i in $(seq 1 "$typists"); do
                # Logins spread over the first seconds, as people's are.
                in_ns "bot$i" bash -c "sleep 0.\$((RANDOM % 9 + 1)); bash '$dir/typist.sh' $T |
                    timeout $((T + 3)) ssh -tt $ssh_opts root@$VICTIM" > /dev/null 2>&1 &
                pids+=($!)
            done
            # shellcheck disable=SC2086 # the options are words
            in_ns client2 timeout "$T" ssh $ssh_opts "root@$VICTIM" "head -c $((20000000 * seed)) /dev/zero" \
                > /dev/null 2>&1 &
            pids+=($!)
            for pid in "${pids[@]}"; do wait "$pid" || true; done
            echo "LABEL: Normal -" ;;
        benign)
            sleep "$T"
            echo "LABEL: Normal -" ;;
        *) echo "unknown scenario $scenario" >&2; return 1 ;;
    esac
}

capture() {
    local scenario=$1 seed=$2
    local name="$scenario-$seed"
    local dir
    dir=$(mktemp -d "/tmp/ta-lab-$name.XXXXXX")
    chmod 755 "$dir"
    # A word list for the brute-force tools (deterministic per run).
    for i in $(seq 1 5000); do echo "pass$i"; done > "$dir/words"
    step "$name"
    setup_lab
    start_services "$dir"
    BENIGN_DIR=$dir
    in_ns net tcpdump -i br0 -s 512 -U -w "$OUT/$name.pcap" > "$dir/tcpdump.log" 2>&1 &
    sleep 1
    local total=$((WARMUP * 2 + ATTACK_SECS + 8))
    start_benign "$total" "$seed"
    local start end attack_start attack_end result
    start=$(date +%s.%N)
    sleep "$WARMUP"
    attack_start=$(date +%s.%N)
    # The tools end by their own count or by `timeout` (exit 124): both are fine.
    (cd "$dir" && run_attack "$scenario" "$seed" "$dir") > "$dir/attack.log" 2>&1 || true
    # (masscan's progress ends in \r, not \n: the label may not start a line.)
    result=$(grep -ao 'LABEL: [A-Za-z_]* [0-9a-f.:,-]*\( [0-9a-f.:-]*\)\?' "$dir/attack.log" | tail -n 1 | sed 's/^LABEL: //')
    attack_end=$(date +%s.%N)
    sleep "$WARMUP"
    end=$(date +%s.%N)
    sleep 1
    teardown
    wait 2> /dev/null || true
    local class=${result%% *} attackers victims_json="[\"$VICTIM\"]"
    attackers=$(echo "$result" | cut -d' ' -f2)
    local victim_field
    victim_field=$(echo "$result" | cut -d' ' -f3)
    [ "$victim_field" = "-" ] && victims_json="[]"
    [ -n "$victim_field" ] && [ "$victim_field" != "-" ] && victims_json="[\"$victim_field\"]"
    if [ -z "$class" ]; then
        echo "$name: the attack did not run: $(tail -n 3 "$dir/attack.log")" >&2
        return 1
    fi
    local attackers_json="[]"
    [ "$attackers" != "-" ] && attackers_json="[\"${attackers//,/\", \"}\"]"
    local attacks="[]"
    if [ "$class" != "Normal" ]; then
        attacks="[{\"class\": \"$class\", \"start\": $attack_start, \"end\": $attack_end, \"attackers\": $attackers_json, \"victims\": $victims_json, \"command\": \"$scenario\"}]"
    fi
    cat > "$OUT/$name.labels.json" <<EOF
{"capture": "$name.pcap", "scenario": "$scenario", "seed": $seed, "start": $start, "end": $end,
 "network": "$NET.0/24", "benign_hosts": ["$CLIENT1", "$CLIENT2"], "attacks": $attacks}
EOF
    printf '%s: %s packets, %s from %s\n' "$name" "$(tcpdump -nn -r "$OUT/$name.pcap" 2>/dev/null | wc -l)" "$class" "$attackers"
    # The tools' own output, for provenance.
    cp "$dir/attack.log" "$OUT/$name.attack.log"
    rm -rf "$dir"
}

main() {
    # One lab at a time: the namespaces and addresses are fixed.
    exec 9> /run/ta-lab.lock
    flock -n 9 || { echo "make_captures.sh: another run is using the lab" >&2; exit 1; }
    install_tools
    mkdir -p "$OUT"
    trap teardown EXIT
    for scenario in $SCENARIOS; do
        for seed in $SEEDS; do
            capture "$scenario" "$seed"
        done
    done
}

# Everything runs from functions bash has read in full: the background jobs cannot move its
# position in this file.
main "$@"
exit
