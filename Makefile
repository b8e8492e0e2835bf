# Two commands on a fresh Debian 12 machine:
#   make demo   installs everything, starts the embedded PostGIS, loads reference and demo data, serves the web UI
#   make test   installs everything and runs every test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := postgresql-15 postgresql-15-postgis-3 gdal-bin chromium fonts-noto-cjk python3-venv python3-qgis poppler-utils zbar-tools
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps python-deps translations demo serve test lint bench clean-data

install: system-deps python-deps translations

system-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

python-deps: $(VENV)/.installed

translations: python-deps
	@$(BIN)/pybabel compile -d web/translations -D messages 2>&1 | grep -v "^compiling" || true

demo: install
	$(BIN)/outfalls db up
	$(BIN)/outfalls reference load
	$(BIN)/outfalls demo seed
	$(BIN)/outfalls demo users
	$(BIN)/outfalls imagery demo
	$(BIN)/outfalls serve

serve: install
	$(BIN)/outfalls serve

test: install
	$(BIN)/pytest

lint: python-deps
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/catalogue.py --outfalls 100000
	$(BIN)/python bench/survey_import.py --rows 100000
	$(BIN)/python bench/lifecycle.py --outfalls 100000
	$(BIN)/python bench/progress.py --outfalls 100000
	$(BIN)/python bench/registers.py --outfalls 100000
	$(BIN)/python bench/ogcapi.py --outfalls 100000
	$(BIN)/python bench/imagery_tiles.py --orthophotos 8
