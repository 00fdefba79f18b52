# Ladda: every target bootstraps what it needs (Debian packages, .venv) by itself.
#   make demo    one charging session on simulated hardware against a local test backend
#   make test    every test
#   make bench   performance figures (docs/performance.md); BENCH_ARGS="--seconds 60 --runs 10"
#   make crash-test  kill the agent CRASH_KILLS times (500) and audit the ledger (docs/reliability.md);
#                CRASH_SEED=1, CRASH_ARGS="--json run.json --keep"; OCPP=2.0.1 runs it over OCPP 2.0.1
#                (its own section of docs/reliability.md)
#   make power-cut  cut the charger's power POWERCUT_CUTS times (50): unsynced writes lost, the ledger
#                audited (docs/reliability.md); POWERCUT_SEED=1, POWERCUT_ARGS="--json run.json --keep"
#   make fuzz    FUZZ_FRAMES (10000) hostile OCPP frames at the agent while it charges; the figures
#                go to docs/reliability.md (the short run, tests/fuzz, is part of make test);
#                OCPP=2.0.1 sends 2.0.1 frames to a 2.0.1 agent (its own section)
#   make install / upgrade / uninstall [PURGE=1]   the systemd service (docs/operations.md)
#   make firmware  a firmware bundle of this tree for UpdateFirmware, in dist/ (build it on the target machine)

PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed-stamp
# Debian packages the project needs on a fresh Debian 12 / Raspberry Pi OS machine.
# socat: RTU meters over a pseudo-terminal; pcscd + vsmartcard-vpcd: the virtual card reader;
# libpcsclite-dev: pyscard builds against it.
# systemd: systemd-analyze checks the service unit.
# gcc + libc6-dev: the power-cut campaign compiles its write recorder (simulators/powercut/shim.c).
# tzdata: the IANA time zones a tariff's bands are read in ([tariff] timezone).
DEB_PACKAGES := python3-venv python3-pip socat pcscd vsmartcard-vpcd libpcsclite-dev swig systemd gcc libc6-dev tzdata
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all demo test bench crash-test power-cut fuzz deps clean install upgrade uninstall firmware

all: test

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory deps
	@[ -x $(VENV)/bin/pip ] || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

OCPP ?= 1.6
demo: $(STAMP)
	$(VENV)/bin/ladda demo --ocpp $(OCPP)

# The kill campaign, the power cuts and the link chaos (tests/reliability, over OCPP 1.6 and 2.0.1,
# about 12 minutes of mostly waiting on processes) run beside the rest; their output follows the
# rest's. Both must pass.
# Three groups side by side (most of their time is spent waiting on processes and timers):
# the end-to-end groups print their results after the rest.
test: $(STAMP)
	@log=$$(mktemp); e2e=$$(mktemp); v201=$$(mktemp); \
	$(PY) -m pytest -p no:cacheprovider tests/reliability > $$log 2>&1 & reliability=$$!; \
	$(PY) -m pytest -p no:cacheprovider tests/conformance tests/site > $$e2e 2>&1 & conformance=$$!; \
	$(PY) -m pytest -p no:cacheprovider tests/conformance201 > $$v201 2>&1 & conformance201=$$!; \
	$(PY) -m pytest --ignore=tests/reliability --ignore=tests/conformance --ignore=tests/conformance201 \
	  --ignore=tests/site; rest=$$?; \
	wait $$conformance; ends=$$?; \
	echo "--- tests/conformance and tests/site (run beside the others) ---"; cat $$e2e; rm -f $$e2e; \
	wait $$conformance201; ends201=$$?; \
	echo "--- tests/conformance201 (run beside the others) ---"; cat $$v201; rm -f $$v201; \
	wait $$reliability; slow=$$?; \
	echo "--- tests/reliability (run beside the others) ---"; cat $$log; rm -f $$log; \
	[ $$rest -eq 0 ] && [ $$ends -eq 0 ] && [ $$ends201 -eq 0 ] && [ $$slow -eq 0 ]

BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

CRASH_KILLS ?= 500
CRASH_SEED  ?= 1
CRASH_ARGS  ?=
# The OCPP version the agent speaks in the crash campaign: 1.6 or 2.0.1.
OCPP        ?= 1.6
crash-test: $(STAMP)
	$(PY) -m simulators.crash_campaign --ocpp $(OCPP) --kills $(CRASH_KILLS) --seed $(CRASH_SEED) --report docs/reliability.md $(CRASH_ARGS)

POWERCUT_CUTS ?= 50
POWERCUT_SEED ?= 1
POWERCUT_ARGS ?=
power-cut: $(STAMP)
	$(PY) -m simulators.powercut --cuts $(POWERCUT_CUTS) --seed $(POWERCUT_SEED) --report docs/reliability.md $(POWERCUT_ARGS)

FUZZ_FRAMES ?= 10000
fuzz: $(STAMP)
	$(PY) -m simulators.fuzz --ocpp $(OCPP) --frames $(FUZZ_FRAMES) --report docs/reliability.md

firmware: $(STAMP)
	$(PY) -m agent.firmware.bundle . dist

install upgrade:
	$(SUDO) systemd/install.sh $@

uninstall:
	$(SUDO) systemd/install.sh uninstall $(if $(PURGE),--purge)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache state
