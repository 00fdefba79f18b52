#!/bin/bash
# The checks inside the VM, one per call (run.sh calls them over ssh, as root):
#   guest.sh CHECK
# Each prints its evidence, then one line `RESULT PASS|FAIL name: what was seen`.
set -uo pipefail

SRC=/root/ladda
BIN=/opt/ladda/current/bin
CONTROL=/var/lib/ladda/bench-control.sock
CSMS=/run/ladda-csms.sock
CP=LADDA-BENCH

result() { echo "RESULT $1 $2"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
prop() { systemctl show -p "$1" --value ladda; }
journal_since() { journalctl -u ladda --since "@${1%.*}" --no-pager -o short-precise; }
csms() { printf '%s\n' "$1" | socat -t 60 - "UNIX-CONNECT:$CSMS"; }
wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.5; done
}
has() { grep -c -- "$1" >/dev/null; }   # like grep -q, but reads all (pipefail: no SIGPIPE)
running() { [ "$(prop SubState)" = running ]; }
online() { prop StatusText | has "backend online"; }
pid_changed() { local p; p="$(prop MainPID)"; [ "$p" != "$1" ] && [ "$p" != 0 ]; }

# ladda.service's [Service] settings, minus how it is started and restarted: the sandbox.
sandbox_props() {
    sed -n '/^\[Service\]/,/^\[/p' /etc/systemd/system/ladda.service | grep -E '^[A-Za-z]+=' |
        grep -v -E '^(Type|NotifyAccess|ExecStart|WatchdogSec|Restart|RestartSec|RestartPreventExitStatus|TimeoutStartSec|TimeoutStopSec)=' |
        sed 's/^/-p\n/'
}

check_boot() {
    local init state
    init="$(ps -p 1 -o comm=)"; state="$(systemctl is-system-running)"
    echo "PID 1: $init; system: $state"; systemd-analyze; uname -r
    if [ "$init" = systemd ] && { [ "$state" = running ] || [ "$state" = degraded ]; }; then
        result PASS "boot: systemd is PID 1, system $state; $(systemd-analyze | head -1)"
    else result FAIL "boot: PID 1 $init, system $state"; fi
}

check_install() {
    local t0 rc; t0="$(now)"
    # No network in the guest: pip takes the wheels run.sh built (PIP_* are pip's own settings).
    (cd "$SRC" && PIP_FIND_LINKS=/root/wheels PIP_NO_INDEX=1 make install) 2>&1 | tail -15; rc=${PIPESTATUS[0]}
    ls -l /opt/ladda /etc/ladda /etc/udev/rules.d/60-ladda-devices.rules /etc/polkit-1/rules.d/60-ladda.rules
    if [ "$rc" = 0 ] && "$BIN/ladda" --version; then
        result PASS "make install: exit 0 in $(since "$t0") s, $("$BIN/ladda" --version)"
    else result FAIL "make install: exit $rc after $(since "$t0") s"; fi
}

# The configuration make install wrote (the example), unedited.
check_example_config() {
    sleep 20
    systemctl status ladda --no-pager -n 0 | head -8
    systemctl show ladda -p ActiveState,Result,ExecMainStatus,NRestarts
    journalctl -u ladda --no-pager -o cat | grep -E 'error|configuration' | tail -3 | cut -c1-300
    local status restarts; status="$(prop ExecMainStatus)"; restarts="$(prop NRestarts)"
    if [ "$status" = 78 ] && [ "$restarts" = 0 ]; then
        result PASS "example config: exit 78, not restarted"
    else
        local last; last="$(journalctl -u ladda -o cat | grep 'Main process exited' | tail -1)"
        result FAIL "example config: restarted $restarts times in 20 s, last: ${last#ladda.service: } (expected exit 78, no restart)"
    fi
}

# A configuration with a mistake: exit 78 (EX_CONFIG), RestartPreventExitStatus keeps it down.
check_config_error() {
    local t0; t0="$(now)"
    sed "s/^vendor = /vendr = /" "$SRC/config/example.toml" > /etc/ladda/ladda.toml
    systemctl restart ladda; echo "systemctl restart: exit $?"
    sleep 8
    systemctl status ladda --no-pager -n 4 | cut -c1-200
    local status restarts; status="$(prop ExecMainStatus)"
    restarts="$(journal_since "$t0" | grep -c "Scheduled restart job")"   # NRestarts is reset by a manual restart
    if [ "$status" = 78 ] && [ "$restarts" = 0 ] && [ "$(prop ActiveState)" = failed ] &&
        journalctl -u ladda -o cat -n 20 | has "unknown key"; then
        result PASS "config error: exit 78, not restarted after 8 s, journal names the key"
    else result FAIL "config error: exit $status, restarts $restarts, $(prop ActiveState)"; fi
}

# The test backend and the simulated bench, outside the unit, then the service on them.
check_start() {
    systemctl stop ladda
    systemd-run --quiet --unit=ladda-csms -p WorkingDirectory=/root \
        "$BIN/ladda-sim" csms --listen 127.0.0.1:9000 --control "$CSMS"
    # The bench as the service user, in the state directory: the only place the sandboxed
    # agent can write (the PWM tree) and reach (its hardware socket, [sim] socket).
    systemd-run --quiet --unit=ladda-bench -p User=ladda -p Group=ladda -p WorkingDirectory=/var/lib/ladda \
        "$BIN/ladda-sim" bench --connectors 1 --hardware-socket /var/lib/ladda/bench.sock --control "$CONTROL" \
        --link-listen 127.0.0.1:9001 --link-upstream 127.0.0.1:9000 --meter-listen 127.0.0.1:5020 \
        --pwm-root /var/lib/ladda/pwm --ready-file /var/lib/ladda/bench-ready.json
    sed -e 's|^pwm_root = .*|pwm_root = "/var/lib/ladda/pwm"|' -e 's|^directory = .*|directory = "/var/lib/ladda"|' \
        "$SRC/config/bench.toml" > /etc/ladda/ladda.toml
    chgrp ladda /etc/ladda/ladda.toml && chmod 0640 /etc/ladda/ladda.toml
    wait_for 60 test -S "$CSMS" && wait_for 60 test -e /var/lib/ladda/bench-ready.json || echo "bench or backend not up"
    local t0 rc; t0="$(now)"
    systemctl start ladda; rc=$?
    local took; took="$(since "$t0")"
    wait_for 60 online
    systemctl status ladda --no-pager -n 0
    if [ "$rc" = 0 ] && running && [ -n "$(prop StatusText)" ]; then
        result PASS "start: active (running) through READY=1 ${took} s after systemctl start; Status: \"$(prop StatusText)\""
    else result FAIL "start: systemctl start exit $rc, $(prop ActiveState)/$(prop SubState)"; fi
}

check_charging() {
    export LADDA_BENCH_CONTROL=$CONTROL
    "$BIN/ladda-sim" plug --connector 1 --max-current 16 >/dev/null && "$BIN/ladda-sim" tap 04A1B2C3 >/dev/null
    wait_for 60 sh -c 'systemctl show -p StatusText --value ladda | grep -q Charging'
    echo "Status: $(prop StatusText)"
    journalctl -u ladda -o cat -n 200 | grep -E '"card reader ready"' | tail -1 | cut -c1-160
    if prop StatusText | has Charging; then
        result PASS "charging: card tapped on pcscd's virtual reader, Status \"$(prop StatusText)\""
    else result FAIL "charging: Status \"$(prop StatusText)\""; fi
}

check_watchdog() {
    local pid t0 gone active; pid="$(prop MainPID)"; t0="$(now)"
    kill -STOP "$pid"; echo "kill -STOP $pid"
    wait_for 90 pid_changed "$pid"; gone="$(since "$t0")"
    wait_for 90 running; active="$(since "$t0")"
    journal_since "$t0" | grep 'systemd\[1\]' | cut -c1-200
    wait_for 60 online
    if journal_since "$t0" | has "Watchdog timeout" && running && pid_changed "$pid"; then
        result PASS "watchdog: stopped agent killed (SIGABRT) ${gone} s after SIGSTOP (pings 15 s apart, WatchdogSec=30), active again after ${active} s; Status \"$(prop StatusText)\""
    else result FAIL "watchdog: pid $pid -> $(prop MainPID), $(prop SubState) after ${active} s"; fi
}

check_kill9() {
    local pid t0 back active restarts; pid="$(prop MainPID)"; restarts="$(prop NRestarts)"; t0="$(now)"
    kill -9 "$pid"
    wait_for 30 pid_changed "$pid"; back="$(since "$t0")"
    wait_for 90 running; active="$(since "$t0")"
    journal_since "$t0" | grep 'systemd\[1\]' | cut -c1-200
    wait_for 60 online
    if running && [ "$(prop NRestarts)" -gt "$restarts" ]; then
        result PASS "kill -9: new process after ${back} s (RestartSec=2), active after ${active} s"
    else result FAIL "kill -9: $(prop SubState) after ${active} s"; fi
}

boot_notifications() {  # how many BootNotification frames the test backend has seen
    csms "{\"cmd\":\"messages\",\"cp\":\"$CP\",\"action\":\"BootNotification\"}" |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)["messages"]))'
}
check_boot_notifications() { boot_notifications; }

check_soft_reset() {
    local pid t0 boots after took; pid="$(prop MainPID)"; t0="$(now)"
    boots="$(boot_notifications)"
    csms "{\"cmd\":\"call\",\"cp\":\"$CP\",\"action\":\"Reset\",\"payload\":{\"type\":\"Soft\"}}"
    wait_for 90 sh -c "[ \$(bash $0 boot_notifications) -gt $boots ]"; took="$(since "$t0")"; after="$(boot_notifications)"
    wait_for 60 online
    journal_since "$t0" | grep -E 'reset|restarting|systemd\[1\]' | cut -c1-200
    if [ "$after" -gt "$boots" ] && [ "$(prop MainPID)" = "$pid" ] && running; then
        result PASS "soft reset: the agent replaced its process (PID $pid kept, service active), BootNotification again ${took} s after the Reset"
    else result FAIL "soft reset: BootNotifications $boots -> $after, PID $pid -> $(prop MainPID), $(prop SubState)"; fi
}

check_stop() {
    local t0 rc took; t0="$(now)"
    ( for _ in $(seq 40); do s="$(prop StatusText)"; case "$s" in stopping*) echo "Status while stopping: $s"; break;; esac; sleep 0.1; done ) &
    systemctl stop ladda; rc=$?; took="$(since "$t0")"; wait
    journal_since "$t0" | cut -c1-200
    if [ "$rc" = 0 ] && [ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ]; then
        result PASS "stop: clean exit (status 0) in ${took} s (TimeoutStopSec=20)"
    else result FAIL "stop: exit $rc, Result $(prop Result), status $(prop ExecMainStatus), ${took} s"; fi
    systemctl start ladda && wait_for 60 online
}

# Sends the Hard Reset; run.sh sees the reboot (a new boot id) and calls check_hard_reset_after.
check_hard_reset_send() {
    printf '\n[system]\nreboot_command = ["systemctl", "reboot"]\n' >> /etc/ladda/ladda.toml
    "$BIN/ladda" check-config /etc/ladda/ladda.toml >/dev/null || echo "config does not check"
    systemctl restart ladda && wait_for 60 online
    cat /proc/sys/kernel/random/boot_id > /root/boot-id-before-reset
    csms "{\"cmd\":\"call\",\"cp\":\"$CP\",\"action\":\"Reset\",\"payload\":{\"type\":\"Hard\"}}"
}

check_hard_reset_after() {
    echo "boot ids: $(cat /root/boot-id-before-reset) -> $(cat /proc/sys/kernel/random/boot_id)"
    journalctl -b -1 --no-pager -o short-precise | grep -E 'hard reset|polkit|System is rebooting' | cut -c1-220
    if ! cmp -s /root/boot-id-before-reset /proc/sys/kernel/random/boot_id &&
        journalctl -b -1 --no-pager | has "hard reset: rebooting" &&
        journalctl -b -1 --no-pager | has "System is rebooting"; then
        result PASS "hard reset: the agent (user ladda, NoNewPrivileges) ran systemctl reboot; logind asked polkit; the VM rebooted"
    else result FAIL "hard reset: no reboot by the agent seen"; fi
}

# Real device nodes under the unit's sandbox (after make install's udev rules).
check_devices() {
    modprobe ladda_mockhw && modprobe i2c-dev && modprobe i2c-stub chip_addr=0x48 && udevadm settle
    ls -l /dev/gpiochip* /dev/i2c-* /dev/ttyS1 /dev/vda /sys/class/pwm/pwmchip0/export
    local props devs out extra check=/usr/local/lib/ladda-devcheck.py
    mapfile -t props < <(sandbox_props)
    install -m 0644 "$SRC/systemd/vm-check/devcheck.py" "$check"    # not under /root: ProtectHome=yes
    devs="/dev/gpiochip0 $(ls /dev/i2c-* | head -1) /dev/ttyS1 /dev/vda"
    echo "--- the unit's sandbox (User=ladda, DevicePolicy=closed, ProtectKernelTunables=yes, ...)"
    out="$(systemd-run --quiet --wait --pipe "${props[@]}" /usr/bin/python3 "$check" $devs)"
    echo "$out"
    # The channel's attributes are handed to gpio by udev a moment after they appear: once more.
    sleep 2; out+=$'\n'"$(systemd-run --quiet --wait --pipe "${props[@]}" /usr/bin/python3 "$check" | tail -1)"
    echo "$out" | tail -1
    echo "--- the same plus SupplementaryGroups=disk: the node's mode allows /dev/vda, only the device cgroup refuses"
    extra="$(systemd-run --quiet --wait --pipe "${props[@]}" -p "SupplementaryGroups=disk" /usr/bin/python3 \
        "$check" /dev/vda | head -1)"
    echo "$extra"
    local ok=1
    for want in "/dev/gpiochip0 ok" "/dev/i2c-[0-9]* ok" "/dev/ttyS1 ok" "mount /sys on /sys ro" \
        "mount /sys/devices/platform on /sys/devices/platform rw" "pwm export+period ok"; do
        echo "$out" | has "^$want" || { ok=0; echo "missing: $want"; }
    done
    [ "$extra" = "/dev/vda EPERM" ] || { ok=0; echo "missing: /dev/vda EPERM"; }
    if [ $ok = 1 ]; then
        result PASS "devices: gpiochip, i2c, ttyS open as ladda; /dev/vda refused by the device cgroup; /sys ro, /sys/devices/platform rw, PWM export and period written"
    else result FAIL "devices: $(echo "$out" | tr '\n' ';')"; fi
}

# Firmware: two bundles of this tree (0.1.1, and 0.1.2 whose agent fails at start), built
# in the guest as `make firmware` does (agent.firmware.bundle, here with the installed
# release's Python: the same code, no second virtualenv), served over HTTP in the guest.
FW=/root/fw
check_firmware_build() {
    local t0 v; t0="$(now)"; rm -rf "$FW" && mkdir -p "$FW/src"
    for v in 0.1.1 0.1.2; do
        mkdir -p "$FW/src/$v" && cp -a "$SRC/." "$FW/src/$v/" && rm -rf "$FW/src/$v/tests" "$FW/src/$v/docs"
        sed -i "s/^version = \"0.1.0\"/version = \"$v\"/" "$FW/src/$v/pyproject.toml"
    done
    printf '\n\nasync def run_agent(*args, **kwargs):  # noqa\n    raise RuntimeError("this release is broken")\n' \
        >> "$FW/src/0.1.2/agent/app.py"
    for v in 0.1.1 0.1.2; do
        (cd "$FW" && PIP_FIND_LINKS=/root/wheels PIP_NO_INDEX=1 "$BIN/python" -m agent.firmware.bundle "src/$v" out) 2>&1 | tail -2
    done
    ls -l "$FW/out"
    systemd-run --quiet --unit=ladda-fw-http -p WorkingDirectory="$FW/out" /usr/bin/python3 -m http.server 8080 --bind 127.0.0.1
    if [ -e "$FW/out/ladda-firmware-0.1.2-$(uname -m).tar.gz" ]; then
        result PASS "firmware bundles: 0.1.1 and a broken 0.1.2 built in $(since "$t0") s"
    else result FAIL "firmware bundles: not built"; fi
}

firmware_statuses() {
    csms "{\"cmd\":\"messages\",\"cp\":\"$CP\",\"action\":\"FirmwareStatusNotification\"}" |
        python3 -c 'import json, sys; print(" ".join(m["payload"]["status"] for m in json.load(sys.stdin)["messages"] if "status" in (m.get("payload") or {})))'
}

update_to() {  # update_to VERSION OUTCOME: send UpdateFirmware, wait for OUTCOME; prints the statuses
    local before st
    before="$(firmware_statuses | wc -w)"
    csms "{\"cmd\":\"call\",\"cp\":\"$CP\",\"action\":\"UpdateFirmware\",\"payload\":{\"location\":\"http://127.0.0.1:8080/ladda-firmware-$1-$(uname -m).tar.gz\",\"retrieveDate\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}}" >/dev/null
    for _ in $(seq 300); do
        st="$(firmware_statuses | cut -d' ' -f$((before + 1))-)"
        case "$st" in *Installed*|*Failed*) break ;; esac; sleep 3
    done
    echo "$st"
}

check_firmware_update() {
    local t0 old pid st; t0="$(now)"; old="$(readlink /opt/ladda/current)"; pid="$(prop MainPID)"
    st="$(update_to 0.1.1)"
    echo "FirmwareStatusNotification: $st"
    echo "current: $old -> $(readlink /opt/ladda/current); previous: $(readlink /opt/ladda/previous); MainPID $pid -> $(prop MainPID)"
    journalctl -u ladda-update.service -u ladda-update.path --since "@${t0%.*}" -o short-precise --no-pager | grep -v Consumed | cut -c1-220
    if [ "$st" = "Downloading Downloaded Installing Installed" ] && [ "$("$BIN/ladda" --version)" = "ladda 0.1.1" ]; then
        result PASS "firmware update: ladda-update.path started ladda-update.service, release built, current switched, service restarted, health marker seen: Installed, $(since "$t0") s"
    else result FAIL "firmware update: statuses '$st', running $("$BIN/ladda" --version)"; fi
}

check_firmware_rollback() {
    local t0 st; t0="$(now)"
    st="$(update_to 0.1.2)"
    echo "FirmwareStatusNotification: $st"
    echo "current: $(readlink /opt/ladda/current); previous: $(readlink /opt/ladda/previous); releases: $(ls /opt/ladda/releases | tr '\n' ' ')"
    journalctl -u ladda-update.service --since "@${t0%.*}" -o short-precise --no-pager | grep -v Consumed | cut -c1-250
    journalctl -u ladda --since "@${t0%.*}" -o cat --no-pager | grep -m1 "this release is broken"
    wait_for 90 running
    if [ "$st" = "Downloading Downloaded Installing InstallationFailed" ] && [ "$("$BIN/ladda" --version)" = "ladda 0.1.1" ] && running; then
        result PASS "firmware rollback: broken 0.1.2 never became healthy, rolled back to 0.1.1 (running): InstallationFailed, $(since "$t0") s"
    else result FAIL "firmware rollback: statuses '$st', running $("$BIN/ladda" --version)"; fi
}

"check_$1"
