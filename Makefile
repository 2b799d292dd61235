# The two commands that set everything up from nothing: `make test` and `make demo`.
# Both are idempotent: apt packages only when missing, the venv only when pyproject changes.

VENV        ?= .venv
PYTHON      ?= python3
# gcc and python3-dev build the replayer's C helper (orchestrator/db/_speedups.c).
APT_PACKAGES = debootstrap dpkg-dev apt-utils iproute2 util-linux openssh-client procps python3-venv \
               postgresql-15 postgresql-client-15 chromium nftables gcc python3-dev
PYTEST_ARGS ?=
DEMO_ARGS   ?=

.PHONY: bootstrap apt venv lock test test-slow test-unit demo lint lab-down clean

bootstrap: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

# Exactly the versions CI tested, build backend included: constraints.txt pins every
# package pip resolves from pyproject.toml's ranges. `make lock` renews it.
$(VENV)/.installed: pyproject.toml constraints.txt orchestrator/db/_speedups.c
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt --upgrade pip setuptools
	$(VENV)/bin/pip install -q -c constraints.txt --no-build-isolation -e '.[dev]'
	touch $@

# Resolve pyproject.toml's ranges afresh, in a throwaway venv, into constraints.txt.
# Then `make test` and `.ci/run` on the new versions before committing the file.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install -q --upgrade pip setuptools
	build/lock-venv/bin/pip install -q --no-build-isolation -e '.[dev]'
	{ echo "# What a fresh install resolved to on $$(date -u +%F); written by 'make lock'."; \
	  echo "# make installs exactly these. To renew: make lock, make test, .ci/run, commit."; \
	  build/lock-venv/bin/pip freeze --all --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf build/lock-venv

# The whole suite: unit tests, then integration tests on a lab of real namespace hosts.
test: bootstrap lint
	@# pytest exits 5 when it collected nothing: a suite that ran no test has failed.
	@$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# The slow fault cases (several whole rollouts each): .ci/run runs them after `make test`.
test-slow: bootstrap
	$(VENV)/bin/pytest -m slow $(PYTEST_ARGS)

test-unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

# The main job on the embedded lab (see README.md).
demo: bootstrap
	$(VENV)/bin/greenswap lab demo $(DEMO_ARGS)

# Style, then types: mypy holds every call to a Protocol (Provider, LoadBalancer,
# SyncDriver, Swapper, Shell) to what the Protocol declares.
lint: venv
	$(VENV)/bin/ruff check orchestrator tests bench
	$(VENV)/bin/mypy

lab-down: venv
	$(VENV)/bin/greenswap lab down

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
