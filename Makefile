# healthprobe — every command a newcomer or CI needs. See README.md.
#
# Each target installs what it needs first (a deps-GROUP prerequisite runs
# build/install-deps.sh GROUP: Debian packages, the pinned nightly named in
# build/nightly-toolchain, the foreign musl libraries), so that `make demo` and
# `make test` work on a fresh Debian machine with rustup. A new target that
# needs a tool adds it to a group there and lists deps-GROUP here.
SHELL := /bin/bash
CARGO ?= cargo
DIST  := dist
BIN     := $(abspath $(DIST)/healthprobe-linux-amd64)
TLS_BIN := $(abspath $(DIST)/healthprobe-tls-linux-amd64)

DEPS_GROUPS := build test e2e dist docker release
.PHONY: deps $(addprefix deps-,$(DEPS_GROUPS))
deps:
	bash build/install-deps.sh
$(addprefix deps-,$(DEPS_GROUPS)): deps-%:
	@bash build/install-deps.sh $*

# ---------------------------------------------------------------------------
# The fast path after every change (a few minutes when warm): formatting,
# clippy with warnings as errors for both builds, the unit and loopback tests
# of both builds, healthprobe.django's unit tests on this machine's Python,
# and every figure the documents quote against bench/results.md (with their
# relative links; bench/figures.py reads files and builds nothing).
# `make test` is the whole suite.
.PHONY: check
check: deps-test
	python3 bench/figures.py
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features tls -- -D warnings
	$(CARGO) test --locked
	$(CARGO) test --locked --features tls --lib --test tls --test unix
	bash python/tests/run.sh 5.2

# ---------------------------------------------------------------------------
# The static x86_64 executables, dist/healthprobe-linux-amd64 (HTTP only) and
# dist/healthprobe-tls-linux-amd64: the amd64 part of `make dist`, the same
# recipe and so the same bytes (nightly -Z build-std with an immediate-abort
# panic: no unwinder, no backtrace printer; see docs/platforms.md).
.PHONY: static static-http static-tls
static: deps-build
	bash build/dist.sh amd64
static-http static-tls: static

# build/hot-symbols-amd64.txt: the functions one probe runs, which dist.sh has
# the linker put together at the start of the text (docs/costs.md, "Layout").
# Regenerate after changing the code, the dependencies or the nightly, then
# `make static`: an out-of-date file costs page faults, never correctness, and
# the HTTP-only build fails when fewer than 98% of its names are in the link.
.PHONY: hot-order
hot-order: deps-build
	bash build/hot-order.sh

# ---------------------------------------------------------------------------
# Every test: unit and integration tests against the debug build; the same
# against the static builds; reliability (deadlines, load, starvation, random
# servers, signals, least privilege); end-to-end against Gunicorn, nginx and
# PostgreSQL; then every platform's artifacts (under qemu-user), the OCI image,
# and two clean builds compared byte for byte; the wheels, cargo package and
# cargo install (test-install); the release's own checks (release-check,
# lint-workflows). Everything every group needs (the Docker suite's engine,
# Compose and debootstrap too) is installed first.
.PHONY: test test-unit test-static test-reliability test-e2e test-dist
test: deps test-unit test-static test-reliability test-e2e test-python test-celery test-dist test-install test-docker \
	lint-workflows release-check

# Plain `cargo test`: what needs neither the static build, nor root, nor a
# quiet machine. The rest is listed as ignored, with the target that runs it.
test-unit: deps-test
	$(CARGO) test --locked
	$(CARGO) test --locked --features tls --lib --test tls --test unix

# The same tests against the static builds, with those that need them (and
# root, for the network namespaces of tests/mistakes.rs; nginx, for the client
# certificates of tests/mtls.rs).
test-static: static deps-test deps-e2e
	HEALTHPROBE_BIN=$(BIN) $(CARGO) test --locked --test probe --test unix --test mistakes -- --include-ignored
	HEALTHPROBE_BIN=$(TLS_BIN) $(CARGO) test --locked --features tls --test tls --test unix --test mtls -- --include-ignored

# docs/reliability.md: deadline windows, randomised hostile servers, CPU
# starvation, 500 probes at once, a full backlog, peak RSS, least privilege
# under strace (root), signals and SIGPIPE, against the static builds, one
# test at a time, with what they print: their figures, and the seed of each
# random run (HEALTHPROBE_HOSTILE_SEED / HEALTHPROBE_SIGNAL_SEED replay one).
test-reliability: static deps-test
	HEALTHPROBE_BIN=$(BIN) HEALTHPROBE_TLS_BIN=$(TLS_BIN) \
		$(CARGO) test --locked --test deadlines --test hostile --test reliability --test targets -- --include-ignored --test-threads=1 --show-output
	HEALTHPROBE_BIN=$(TLS_BIN) \
		$(CARGO) test --locked --features tls --test deadlines -- --include-ignored --test-threads=1

test-e2e: static deps-e2e
	bash tests/harness/selftest.sh
	bash tests/e2e/run.sh

test-dist: test-qemu image repro

# healthprobe.django's unit tests (python/tests) on Django 5.2 LTS with this
# machine's Python, and on Django 6.x with Python 3.13 in a Debian trixie root.
.PHONY: test-python
test-python: deps-test
	bash python/tests/run.sh

# healthprobe.celery's tests (tests/celery) on the newest Celery 5.x and the
# 5.5 series, each in its own virtualenv under target/: real redis-server
# (Debian's, from deps-e2e), Celery workers (prefork and solo) and beat, and
# target/release/healthprobe (built by the script when missing). A few minutes
# for each Celery, both at once; `bash tests/celery/run.sh 5.7` runs one.
.PHONY: test-celery
test-celery: deps-test deps-e2e
	bash tests/celery/run.sh

# ---------------------------------------------------------------------------
.PHONY: demo bench clean
demo: static deps-test
	bash examples/demo.sh

# bench/results.md: the figures every document quotes (docs/costs.md); then
# the quotes that the new results leave behind, if any.
bench: static
	bash bench/run.sh
	-python3 bench/figures.py

clean:
	rm -rf target $(DIST)

# ---------------------------------------------------------------------------
# Release artifacts for every platform: build/ (see docs/platforms.md).
.PHONY: dist-deps dist size image test-qemu repro
dist-deps: deps-dist

# dist/healthprobe-linux-ARCH, dist/healthprobe-tls-linux-ARCH, dist/SHA256SUMS.
dist: deps-dist
	bash build/dist.sh

# The size of every artifact as a Markdown table; fails over the size budgets.
size: dist
	bash build/size.sh

# dist/healthprobe-oci.tar (and -tls-): amd64 + arm64 OCI index, then checked
# with skopeo and by unpacking the layer.
image: dist
	bash build/image.sh
	bash build/verify-image.sh

# The integration tests against every dist artifact, natively or under qemu-user.
test-qemu: dist deps-test
	bash build/test-qemu.sh

# Two clean builds from two checkouts at different paths: identical bytes.
repro: deps-dist
	bash build/repro.sh

# ---------------------------------------------------------------------------
# Long fuzz runs: every target for FUZZ_SECONDS (default 180) each, then
# `cargo fuzz cmin`, growing fuzz/corpus/ (the pinned nightly; installs cargo-fuzz).
.PHONY: fuzz
fuzz: deps-build
	bash fuzz/run.sh

# ---------------------------------------------------------------------------
# Docker: the probe and the examples under a real Docker Engine (dockerd from
# Debian's docker.io, started by the test in its own network namespace), and
# the deployment examples checked by hadolint, kubernetes-validate and Compose.
# See tests/docker/run.sh. Needs root; Debian roots and wheels are cached under
# /var/cache/healthprobe.
.PHONY: test-docker lint-docker

test-docker: image wheel lint-docker deps-docker
	bash tests/docker/run.sh

lint-docker: deps-docker deps-test
	bash tests/docker/lint.sh

# ---------------------------------------------------------------------------
# Every way in but the image (README "Install"). `make wheel` leaves
# dist/healthprobe-VERSION-py3-none-…_MACHINE.whl, one a platform Python has
# tags for, each carrying dist/healthprobe-linux-ARCH as the script
# `healthprobe` (python/build-wheels.sh). test-install checks the wheels
# against dist/SHA256SUMS and Cargo.toml, installs this machine's with
# `pip install --no-index` into target/wheel-test-venv, runs the end-to-end
# suite with the healthprobe pip put there, then `cargo package --locked` and
# `cargo install --path .` on stable (build/test-cargo.sh).
.PHONY: wheel test-install

wheel: dist
	bash python/build-wheels.sh

test-install: wheel deps-e2e
	target/wheel-build-venv/bin/python python/test-wheels.py
	HEALTHPROBE_BIN=$(abspath target/wheel-test-venv/bin/healthprobe) bash tests/e2e/run.sh
	bash build/test-cargo.sh

# ---------------------------------------------------------------------------
# The release (.github/workflows/release.yml runs the same target on a tag).
# `make release-check` builds what a tag vX.Y.Z publishes, stages exactly those
# files in target/upload/ (github/: the binaries and SHA256SUMS; pypi/: the
# wheels; crates/: the .crate; oci/: the image archives and their index
# digests) and checks them without publishing anything: the versions agree
# (Cargo.toml, Cargo.lock, the wheels, every binary's --version, the images,
# RELEASE_TAG when set), sha256sum -c, twine check, cargo publish --dry-run,
# skopeo inspect of each index and manifest, and build/identity.py check.
# `make lint-workflows`: actionlint and zizmor on .github/workflows/.
.PHONY: release-check lint-workflows

release-check: image wheel deps-release
	bash build/release-check.sh

lint-workflows: deps-release
	bash build/lint-workflows.sh
