#!/bin/bash
# Run Ladda's systemd units under a real systemd: a Debian 12 VM (qemu + KVM) booted with
# systemd as PID 1, `make install` in it, then the service's behaviour checked for real
# (exit 78, notify, watchdog, restarts, reset, device sandbox, firmware update).
# README.md beside this file says what each check does. Usage, as root on Debian 12:
#
#   systemd/vm-check/run.sh [WORKDIR]        (default /var/tmp/ladda-vm)
#
# WORKDIR keeps the debootstrapped base system between runs (delete it to start over);
# the disk image is made anew from it every run. LADDA_VM_KEEP=1 leaves the VM running
# at the end (ssh: see $WORKDIR/ssh); LADDA_VM_BUILD_ONLY=1 stops once the image is made.
# The last line is the summary; exit 0 if all passed.
set -uo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$SOURCE/systemd/vm-check"
WORK="$(mkdir -p "${1:-/var/tmp/ladda-vm}" && cd "${1:-/var/tmp/ladda-vm}" && pwd)"
ROOTFS="$WORK/rootfs"
PORT="${LADDA_VM_SSH_PORT:-2222}"
MIRROR="${LADDA_VM_MIRROR:-http://deb.debian.org/debian}"
LOG="$WORK/run.log"
# The guest: systemd, polkit (with logind), what install.sh and `make firmware` need, and
# the kernel headers for the mock GPIO/PWM module (Debian's kernel has no gpio-mockup).
PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,polkitd,pkexec,linux-image-amd64,linux-headers-amd64
PACKAGES+=,python3,python3-venv,python3-pip,python3-dev,gcc,make,swig,pcscd,libpcsclite-dev,socat
PACKAGES+=,vsmartcard-vpcd,openssh-server,iproute2,procps,kmod,udev,ca-certificates,curl,util-linux

: > "$LOG"
say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$LOG"; }
die() { say "ERROR: $*"; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, the disk image)"
[ -w /dev/kvm ] || die "no /dev/kvm"

# -- the host's tools ---------------------------------------------------------------------------
missing=()
for p in debootstrap qemu-system-x86 e2fsprogs openssh-client rsync; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing on the host: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$LOG" 2>&1 \
        || die "apt-get install ${missing[*]} failed"
fi

# -- the base system (kept between runs) --------------------------------------------------------
in_root() { chroot "$ROOTFS" "$@"; }
if [ ! -e "$ROOTFS/.ladda-vm-base" ]; then
    rm -rf "$ROOTFS"
    say "debootstrap bookworm into $ROOTFS (a few minutes)"
    debootstrap --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >>"$LOG" 2>&1 || die "debootstrap failed (see $LOG)"
    echo ladda-vm > "$ROOTFS/etc/hostname"
    echo "127.0.1.1 ladda-vm" >> "$ROOTFS/etc/hosts"
    echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$ROOTFS/etc/fstab"
    printf '[Match]\nName=en*\n[Network]\nDHCP=yes\n' > "$ROOTFS/etc/systemd/network/20-wired.network"
    in_root systemctl enable systemd-networkd >>"$LOG" 2>&1
    mkdir -p "$ROOTFS/var/log/journal"              # a persistent journal: it survives the Hard Reset
    in_root passwd -d root >/dev/null               # the serial console, for a person debugging
    touch "$ROOTFS/.ladda-vm-base"
fi
# The mock GPIO/PWM chips, built against the guest's kernel.
KVER="$(basename "$(ls -d "$ROOTFS"/lib/modules/*/ | head -1)")"
rm -rf "$ROOTFS/root/mockhw" && mkdir -p "$ROOTFS/root/mockhw"
cp "$HERE/mockhw/ladda_mockhw.c" "$HERE/mockhw/Kbuild" "$ROOTFS/root/mockhw/"
in_root make -C "/lib/modules/$KVER/build" M=/root/mockhw modules >>"$LOG" 2>&1 || die "the mock module does not build"
install -D -m 0644 "$ROOTFS/root/mockhw/ladda_mockhw.ko" "$ROOTFS/lib/modules/$KVER/extra/ladda_mockhw.ko"
in_root depmod "$KVER"

# ssh into the guest with a key made for this work directory.
[ -e "$WORK/id" ] || ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
install -d -m 0700 "$ROOTFS/root/.ssh" && install -m 0600 "$WORK/id.pub" "$ROOTFS/root/.ssh/authorized_keys"
SSH=(ssh -q -i "$WORK/id" -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o BatchMode=yes root@127.0.0.1)
printf '%q ' "${SSH[@]}" > "$WORK/ssh"; echo >> "$WORK/ssh"

# -- this source tree and the wheels it needs (the guest has no network) ------------------------
say "copying the source tree and building wheels on the host"
rm -rf "$ROOTFS/root/ladda" "$ROOTFS/root/wheels"
rsync -a --exclude .venv --exclude .git --exclude dist --exclude build --exclude state --exclude '*.egg-info' \
    --exclude __pycache__ --exclude .pytest_cache "$SOURCE/" "$ROOTFS/root/ladda/"
guest_py="$(in_root python3 -c 'import sys; print(sys.version.split()[0])')"
host_py="$(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])')"
[ "${guest_py%.*}" = "${host_py%.*}" ] || die "host Python $host_py, guest $guest_py: build the wheels on a Debian 12 host"
[ -x "$WORK/wheel-venv/bin/pip" ] || /usr/bin/python3 -m venv "$WORK/wheel-venv"
"$WORK/wheel-venv/bin/pip" wheel -q --disable-pip-version-check -w "$ROOTFS/root/wheels" \
    "$SOURCE[test]" setuptools wheel >>"$LOG" 2>&1 || die "pip wheel failed (see $LOG)"
rm -f "$ROOTFS"/root/wheels/ladda-*.whl

say "making the disk image"
rm -f "$WORK/disk.img"
mkfs.ext4 -q -L root -d "$ROOTFS" "$WORK/disk.img" 8G >>"$LOG" 2>&1 || die "mkfs.ext4 -d failed"

[ -z "${LADDA_VM_BUILD_ONLY:-}" ] || { say "image made: $WORK/disk.img"; exit 0; }

# -- boot ---------------------------------------------------------------------------------------
QEMU_PID=""
stop_vm() {
    [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null || return 0
    "${SSH[@]}" systemctl poweroff >/dev/null 2>&1
    for _ in $(seq 60); do kill -0 "$QEMU_PID" 2>/dev/null || return 0; sleep 1; done
    kill "$QEMU_PID"
}
[ -n "${LADDA_VM_KEEP:-}" ] || trap stop_vm EXIT
# KVM, unless this machine's /dev/kvm is PVM (a nested KVM without hardware support, as in
# some sandboxes): it runs only kernels built as PVM guests, so a stock Debian kernel never
# gets past its decompressor. Then qemu emulates (TCG): slower, but systemd is as real.
ACCEL="${LADDA_VM_ACCEL:-}"
if [ -z "$ACCEL" ]; then
    if [ -d /sys/module/kvm_pvm ]; then ACCEL=tcg; else ACCEL=kvm; fi
fi
case "$ACCEL" in
    kvm) ACCEL_ARGS=(-enable-kvm -cpu host) ;;
    tcg) ACCEL_ARGS=(-accel tcg,thread=multi -cpu max) ;;
    *) die "LADDA_VM_ACCEL is kvm or tcg" ;;
esac
say "booting the guest ($ACCEL)"
boot_start=$(date +%s.%N)
qemu-system-x86_64 "${ACCEL_ARGS[@]}" -smp 2 -m 2048 -display none -daemonize -pidfile "$WORK/qemu.pid" \
    -kernel "$(ls "$ROOTFS"/boot/vmlinuz-* | head -1)" -initrd "$(ls "$ROOTFS"/boot/initrd.img-* | head -1)" \
    -append "console=ttyS0 root=/dev/vda rw" \
    -drive "file=$WORK/disk.img,format=raw,if=virtio" \
    -nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" \
    -serial "file:$WORK/console.log" -serial null || die "qemu did not start"
QEMU_PID="$(cat "$WORK/qemu.pid")"
g() { "${SSH[@]}" "$@"; }
wait_ssh() { for _ in $(seq "$1"); do g true 2>/dev/null && return 0; sleep 1; done; return 1; }
wait_ssh 300 || die "no ssh into the guest after 300 s (see $WORK/console.log)"
boot_up=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say "guest up: ssh answers $(since "$boot_start") s after qemu started"

# -- the checks (systemd/vm-check/guest.sh in the guest) -----------------------------------------
RESULTS=()
check() {
    say "--- $1"
    local out
    out="$(g "bash /root/ladda/systemd/vm-check/guest.sh $1" 2>&1)"
    printf '%s\n' "$out" | sed 's/^/    /' | tee -a "$LOG"
    local line; line="$(printf '%s\n' "$out" | grep '^RESULT ' | tail -1)"
    [ -n "$line" ] || line="RESULT FAIL $1: no result (ssh or the check broke)"
    RESULTS+=("${line#RESULT }")
}
check boot
RESULTS[-1]="${RESULTS[-1]}; ssh answered $(awk -v a="$boot_start" -v b="$boot_up" 'BEGIN { printf "%.0f", b - a }') s after qemu started ($ACCEL)"
check install
check example_config
check config_error
check start
check charging
check watchdog
check kill9
check soft_reset
check stop
check firmware_build
check firmware_update
check firmware_rollback
say "--- hard reset: sending it"
g "bash /root/ladda/systemd/vm-check/guest.sh hard_reset_send" 2>&1 | sed 's/^/    /' | tee -a "$LOG"
# The guest reboots: ssh goes away, then comes back with a new boot id. No ssh meanwhile:
# logind (systemd 252) fails a Reboot call with ESTALE when a session comes or goes while
# it waits for polkit's answer, as a poll every second did (the agent then restarts itself).
reset_sent=$(date +%s.%N)
sleep 30
wait_ssh 300 && say "guest back $(since "$reset_sent") s after the Hard Reset was sent"
check hard_reset_after
check devices

say "=== summary"
failed=0
for r in "${RESULTS[@]}"; do
    say "$r"
    case "$r" in FAIL*) failed=$((failed + 1)) ;; esac
done
say "$(( ${#RESULTS[@]} - failed )) passed, $failed failed (log: $LOG)"
[ "$failed" = 0 ]
