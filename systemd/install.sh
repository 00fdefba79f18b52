#!/bin/bash
# Install, upgrade or remove Ladda as a systemd service on Debian / Raspberry Pi OS.
#
#   systemd/install.sh install            (make install)   first installation, or the same as upgrade
#   systemd/install.sh upgrade            (make upgrade)   a new release from this source tree
#   systemd/install.sh uninstall [--purge] (make uninstall) the service and the code; --purge also
#                                          the configuration, the journal and the user
#
# Layout (docs/operations.md):
#   /opt/ladda/releases/<version>-<UTC time>/   one virtualenv per release, owned by root
#   /opt/ladda/current -> releases/...         what the service runs (switched atomically)
#   /opt/ladda/previous -> releases/...        the release before, kept for a rollback
#   /etc/ladda/ladda.toml                      the technician's file: created once, never overwritten
#   /var/lib/ladda                             the journal (StateDirectory), kept on upgrade and uninstall
#
# For tests and packaging: LADDA_ROOT puts every path under another root (users and
# groups go into its /etc); LADDA_SYSTEMCTL replaces systemctl; LADDA_APT=no skips the
# Debian packages; LADDA_PYTHON is the interpreter the virtualenvs are made from.
set -euo pipefail

ROOT="${LADDA_ROOT:-}"
SYSTEMCTL="${LADDA_SYSTEMCTL:-systemctl}"
PYTHON="${LADDA_PYTHON:-python3}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OPT="$ROOT/opt/ladda"
ETC="$ROOT/etc/ladda"
STATE="$ROOT/var/lib/ladda"
UNIT_DIR="$ROOT/etc/systemd/system"
POLKIT_DIR="$ROOT/etc/polkit-1/rules.d"
UDEV_DIR="$ROOT/etc/udev/rules.d"
SERVICE_USER=ladda
# Serial meters, GPIO character devices, the pilot's ADC (systemd/ladda.service's SupplementaryGroups).
DEVICE_GROUPS=(dialout gpio i2c)
# What the service needs at run time, and what pip needs to build pyscard.
DEB_PACKAGES=(python3-venv python3-dev gcc swig pcscd libpcsclite-dev tzdata)  # tzdata: [tariff] timezone

say() { printf 'ladda install: %s\n' "$*"; }
fail() { printf 'ladda install: %s\n' "$*" >&2; exit 1; }

account_args() { if [ -n "$ROOT" ]; then printf '%s\n' --prefix "$ROOT"; fi; }

require_root() {
    [ "$(id -u)" = 0 ] || fail "run as root (sudo make install): it creates a user, /opt/ladda and a systemd unit"
}

install_packages() {
    [ "${LADDA_APT:-yes}" = no ] && return
    local missing=()
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

group_exists() { grep -q "^$1:" "$ROOT/etc/group"; }

ensure_user() {
    mapfile -t prefix < <(account_args)
    for g in "${DEVICE_GROUPS[@]}"; do
        # gpio and i2c exist on Raspberry Pi OS; on plain Debian they are made here so that
        # udev rules can hand the device nodes to them.
        group_exists "$g" || groupadd "${prefix[@]}" --system "$g"
    done
    if ! grep -q "^$SERVICE_USER:" "$ROOT/etc/passwd"; then
        say "creating the system user $SERVICE_USER"
        useradd "${prefix[@]}" --system --user-group --home-dir /var/lib/ladda --no-create-home \
            --shell /usr/sbin/nologin --comment "Ladda charge-point agent" "$SERVICE_USER"
    fi
    usermod "${prefix[@]}" --append --groups "$(IFS=,; echo "${DEVICE_GROUPS[*]}")" "$SERVICE_USER"
}

release_name() {
    local version stamp
    version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$SOURCE/pyproject.toml" | head -1)"
    [ -n "$version" ] || fail "no version in $SOURCE/pyproject.toml"
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    echo "$version-$stamp"
}

build_release() {
    local name="$1" dir="$OPT/releases/$1"
    [ ! -e "$dir" ] || fail "$dir exists already; wait a second and run again"
    mkdir -p "$OPT/releases"
    say "building release $name in $dir"
    "$PYTHON" -m venv "$dir" || fail "cannot make a virtualenv with $PYTHON (install python3-venv)"
    local extras=""
    if grep -qs "Raspberry Pi" "$ROOT/proc/device-tree/model"; then extras="[pi]"; fi
    if ! "$dir/bin/pip" install --quiet --disable-pip-version-check ${LADDA_PIP_OPTIONS:-} "$SOURCE$extras"; then
        rm -rf "$dir"
        fail "pip could not install Ladda into $dir (see above); nothing was switched"
    fi
    "$dir/bin/ladda" --version >/dev/null || { rm -rf "$dir"; fail "the new release does not run; nothing was switched"; }
}

switch_to() {
    # A symlink renamed over another is atomic: the service sees the old or the new release.
    local name="$1"
    if [ -L "$OPT/current" ]; then
        ln -sfn "$(readlink "$OPT/current")" "$OPT/previous.new"
        mv -T "$OPT/previous.new" "$OPT/previous"
    fi
    ln -sfn "releases/$name" "$OPT/current.new"
    mv -T "$OPT/current.new" "$OPT/current"
    say "current release: $name"
}

prune_releases() {
    # Keep the current and the previous release (a rollback needs it); remove the rest.
    local keep_current keep_previous
    keep_current="$(basename "$(readlink "$OPT/current" 2>/dev/null || echo none)")"
    keep_previous="$(basename "$(readlink "$OPT/previous" 2>/dev/null || echo none)")"
    for dir in "$OPT"/releases/*; do
        [ -d "$dir" ] || continue
        case "$(basename "$dir")" in
            "$keep_current"|"$keep_previous") ;;
            *) say "removing old release $(basename "$dir")"; rm -rf "$dir" ;;
        esac
    done
}

install_config() {
    install -d -m 0750 -o root -g "$(gid_of "$SERVICE_USER")" "$ETC"
    if [ -e "$ETC/ladda.toml" ]; then
        say "keeping $ETC/ladda.toml"
    else
        install -m 0640 -o root -g "$(gid_of "$SERVICE_USER")" "$SOURCE/config/example.toml" "$ETC/ladda.toml"
        say "wrote $ETC/ladda.toml from the example: edit it, then run: ladda check-config /etc/ladda/ladda.toml"
    fi
    install -d -m 0750 -o "$(uid_of "$SERVICE_USER")" -g "$(gid_of "$SERVICE_USER")" "$STATE"
}

uid_of() { awk -F: -v u="$1" '$1 == u { print $3 }' "$ROOT/etc/passwd"; }
gid_of() { awk -F: -v g="$1" '$1 == g { print $3 }' "$ROOT/etc/group"; }

install_installer() {
    # The firmware installer runs as root: it is this tree's copy, with the system's Python,
    # and no firmware update ever replaces it (only make install / make upgrade do).
    local pkg="$OPT/libexec/ladda_firmware"
    install -d -m 0755 "$pkg"
    : > "$pkg/__init__.py"
    for module in install bundle layout; do
        install -m 0644 "$SOURCE/agent/firmware/$module.py" "$pkg/$module.py"
    done
}

install_unit() {
    install -d "$UNIT_DIR"
    for unit in ladda.service ladda-update.service ladda-update.path; do
        install -m 0644 "$SOURCE/systemd/$unit" "$UNIT_DIR/$unit"
    done
    if [ -d "$POLKIT_DIR" ]; then
        # pcscd and logind ask polkit: let the service user read cards and reboot for a Hard Reset.
        install -m 0644 "$SOURCE/systemd/60-ladda.rules" "$POLKIT_DIR/60-ladda.rules"
    fi
    # The GPIO, I2C and PWM devices to the groups gpio and i2c, as Raspberry Pi OS does;
    # plain Debian leaves them to root. Applied at once to the devices already there.
    install -d "$UDEV_DIR"
    install -m 0644 "$SOURCE/systemd/60-ladda-devices.rules" "$UDEV_DIR/60-ladda-devices.rules"
    if [ -z "$ROOT" ] && command -v udevadm >/dev/null && [ -d /run/udev ]; then
        udevadm control --reload || true
        udevadm trigger --action=add --subsystem-match=gpio --subsystem-match=i2c-dev --subsystem-match=pwm || true
    fi
    # `ladda check-config`, `ladda probe ...` and `ladda sessions` on the technician's PATH.
    install -d "$ROOT/usr/local/bin"
    ln -sfn /opt/ladda/current/bin/ladda "$ROOT/usr/local/bin/ladda"
    "$SYSTEMCTL" daemon-reload
}

do_install() {
    local verb="$1"
    require_root
    install_packages
    ensure_user
    local name
    name="$(release_name)"
    build_release "$name"
    install_config
    switch_to "$name"
    install_installer
    install_unit
    prune_releases
    if [ "$verb" = install ]; then
        "$SYSTEMCTL" enable ladda.service ladda-update.path ladda-update.service
    fi
    "$SYSTEMCTL" start ladda-update.path
    if ! "$SYSTEMCTL" restart ladda.service; then
        # A first installation has the example configuration, which is not this charger's:
        # the service cannot run yet, and the installation itself is complete.
        [ "$verb" = install ] || fail "ladda.service did not start with the new release (journalctl -u ladda); the one before is in $OPT/previous"
        say "install done: $("$OPT/current/bin/ladda" --version); the service did not start yet (journalctl -u ladda):"
        say "set up /etc/ladda/ladda.toml for this charger, then: ladda check-config /etc/ladda/ladda.toml && systemctl restart ladda"
        return
    fi
    say "$verb done: $("$OPT/current/bin/ladda" --version); systemctl status ladda, journalctl -u ladda -f"
}

do_uninstall() {
    local purge="${1:-}"
    require_root
    "$SYSTEMCTL" disable --now ladda.service ladda-update.path ladda-update.service || true
    rm -f "$UNIT_DIR/ladda.service" "$UNIT_DIR/ladda-update.service" "$UNIT_DIR/ladda-update.path" \
        "$POLKIT_DIR/60-ladda.rules" "$UDEV_DIR/60-ladda-devices.rules"
    [ "$(readlink "$ROOT/usr/local/bin/ladda" 2>/dev/null)" = /opt/ladda/current/bin/ladda ] && rm -f "$ROOT/usr/local/bin/ladda"
    "$SYSTEMCTL" daemon-reload
    rm -rf "$OPT"
    if [ "$purge" = --purge ]; then
        rm -rf "$ETC" "$STATE"
        mapfile -t prefix < <(account_args)
        if grep -q "^$SERVICE_USER:" "$ROOT/etc/passwd"; then userdel "${prefix[@]}" "$SERVICE_USER"; fi
        say "removed the service, the code, $ETC, $STATE and the user $SERVICE_USER"
    else
        say "removed the service and the code; kept $ETC and $STATE (uninstall --purge removes them)"
    fi
}

case "${1:-}" in
    install|upgrade) do_install "$1" ;;
    uninstall) do_uninstall "${2:-}" ;;
    *) echo "usage: $0 install | upgrade | uninstall [--purge]" >&2; exit 2 ;;
esac
