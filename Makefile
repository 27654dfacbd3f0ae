# The two commands of the README: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGIN_CFGS := $(wildcard plugins/*/setup.cfg)

.PHONY: dev demo demo-deps test system-deps lint typecheck bench clean

$(VENV)/.installed: requirements-dev.txt setup.cfg $(PLUGIN_CFGS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -q python3-venv \
		&& $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

dev: $(VENV)/.installed  ## install the core and every first-party plugin, editable

system-deps:  ## Debian packages the tests use (snmptrapd, haproxy, user-mode Linux, ...), as root
	bash .ci/system-deps

demo-deps:  ## Debian packages the demo uses (haproxy, snmptrapd), as root
	bash .ci/system-deps .ci/apt-packages.demo

demo: demo-deps dev  ## run the demo
	$(VENV)/bin/faultmgr demo

test: system-deps dev  ## run every test suite
	$(PY) -m pytest

lint: dev
	$(VENV)/bin/ruff check faultmgr plugins tests bench
	$(VENV)/bin/mypy faultmgr

clean:
	rm -rf $(VENV) build *.egg-info
