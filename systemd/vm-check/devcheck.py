"""Run inside ladda.service's sandbox (run.sh starts it with the unit's [Service] settings):
which device nodes the service can open, and whether the PWM tree in /sys is writable.

Prints one line per node, `PATH ok` or `PATH errno-name`, then the mount options of the
sysfs paths as this process sees them, then the outcome of exporting a PWM channel.
EPERM on a node is the device cgroup (DevicePolicy=closed) refusing; EACCES is the node's
owner and mode.
"""

import errno
import os
import sys

for path in sys.argv[1:]:
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY))
        print(path, "ok")
    except OSError as exc:
        print(path, errno.errorcode.get(exc.errno, exc.errno))

mounts = {}
with open("/proc/self/mountinfo") as f:
    for line in f:
        fields = line.split()
        mounts[fields[4]] = fields[5]
for path in ("/sys", "/sys/class/pwm", "/sys/devices/platform", "/var/lib/ladda", "/etc/ladda", "/opt"):
    # The mount a path is on: the longest mount point that is a prefix of it.
    point = max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")), key=len)
    print("mount", path, "on", point, mounts[point].split(",")[0])

chip = "/sys/class/pwm/pwmchip0"
if os.path.isdir(chip):
    try:
        if not os.path.isdir(chip + "/pwm0"):
            with open(chip + "/export", "w") as f:
                f.write("0")
        with open(chip + "/pwm0/period", "w") as f:
            f.write("1000000")
        print("pwm export+period ok")
    except OSError as exc:
        print("pwm export+period", errno.errorcode.get(exc.errno, exc.errno))
