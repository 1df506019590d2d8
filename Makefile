# kpiscope build contract (README "Build notes" explains the choices).
#   make build   release build: build/release/kpiscope.duckdb_extension + build/release/kpiscope
#   make demo    the main command: build, create demo/kpiscope.duckdb, run the analyses,
#                export the reports, then serve the viewer (URL printed; Ctrl-C stops)
#   make wheel   the Python package: build/wheels/kpiscope-*.whl, installed into the test venv
#   make test    everything CI checks; installs what it needs, idempotently
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

DUCKDB_VERSION := 1.5.6
CACHE ?= $(HOME)/.cache/kpiscope
export CARGO_TARGET_DIR ?= $(CACHE)/target
export DUCKDB_LIB_DIR ?= $(CACHE)/duckdb-v$(DUCKDB_VERSION)
VENV ?= $(CACHE)/venv-duckdb-$(DUCKDB_VERSION)
# A user's install of the wheel: a brand-new venv holding only what `pip install` of the wheel
# brings (pinned by the tests' requirements), remade whenever the wheel changes.
WHEEL_VENV ?= $(CACHE)/venv-wheel

OUT := build/release
EXTENSION := $(OUT)/kpiscope.duckdb_extension
BIN := $(OUT)/kpiscope
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' extension/Cargo.toml | head -1)
PLATFORM := linux_$(subst x86_64,amd64,$(subst aarch64,arm64,$(shell uname -m)))

export KPISCOPE_EXTENSION := $(CURDIR)/$(EXTENSION)
export KPISCOPE_BIN := $(CURDIR)/$(BIN)
export KPISCOPE_DUCKDB_CLI := $(VENV)/bin/duckdb
export PYO3_PYTHON := $(VENV)/bin/python
export KPISCOPE_WHEEL_PYTHON := $(WHEEL_VENV)/bin/python

ADDR ?= 127.0.0.1:8080

.PHONY: build demo test lint clean system-deps wheel
build: $(DUCKDB_LIB_DIR)/libduckdb.so
	cd extension && cargo build --release --locked
	cargo build --release --locked -p kpiscope-footer -p kpiscope-cli
	mkdir -p $(OUT)
	$(CARGO_TARGET_DIR)/release/kpiscope-footer $(CARGO_TARGET_DIR)/release/libkpiscope.so $(EXTENSION) \
	  --duckdb-version v$(DUCKDB_VERSION) --platform $(PLATFORM) --extension-version v$(VERSION)
	install -m 755 $(CARGO_TARGET_DIR)/release/kpiscope $(BIN)
	cp -f $(DUCKDB_LIB_DIR)/libduckdb.so $(OUT)/libduckdb.so

$(DUCKDB_LIB_DIR)/libduckdb.so: scripts/fetch-libduckdb.sh
	scripts/fetch-libduckdb.sh $(DUCKDB_LIB_DIR)

demo: build
	$(BIN) demo --db demo/kpiscope.duckdb
	@echo "demo database: demo/kpiscope.duckdb (open it with any DuckDB client; README shows queries)"
	$(BIN) serve --db demo/kpiscope.duckdb --addr $(ADDR)

# Debian packages the tests drive for real: Chromium and its WebDriver (viewer), poppler-utils
# (PDF checks), openssl (a test CA for the STARTTLS alert test) and a Java runtime for Spark.
# Installed only when missing, so a prepared machine pays nothing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The real DuckDB clients (CLI and Python) from PyPI, pinned, in a cached virtualenv.
$(VENV)/.installed: tests/python/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

# The engine as a Python package (python/, its own Cargo workspace), built with the venv's
# maturin and installed into the venv the Python tests run in, and into a fresh venv of its own.
wheel: $(VENV)/.installed
	rm -rf build/wheels
	cd python && $(VENV)/bin/maturin build --release --locked --quiet -o $(CURDIR)/build/wheels -i $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps build/wheels/kpiscope-*.whl
	wheel=$$(ls build/wheels/kpiscope-*.whl); sum=$$(sha256sum "$$wheel" | cut -d' ' -f1); \
	if [ "$$(cat $(WHEEL_VENV)/.wheel 2>/dev/null)" != "$$sum" ]; then \
	  python3 -m venv --clear $(WHEEL_VENV); \
	  $(WHEEL_VENV)/bin/pip install --quiet --disable-pip-version-check \
	    -c tests/python/requirements.txt "$$wheel[spark]" pandas; \
	  echo "$$sum" > $(WHEEL_VENV)/.wheel; \
	fi

lint:
	cargo fmt --all --check
	cd extension && cargo fmt --check
	cd python && cargo fmt --check
	cargo clippy --release --locked --workspace --all-targets -- -D warnings
	cd extension && cargo clippy --release --locked --all-targets -- -D warnings
	cd python && cargo clippy --release --locked --all-targets -- -D warnings

test: build system-deps $(VENV)/.installed wheel lint
	cd extension && cargo test --release --locked
	cargo test --release --locked --workspace
	$(VENV)/bin/python -m pytest -q tests/python

clean:
	rm -rf build demo
