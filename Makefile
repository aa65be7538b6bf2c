# healthprobe — every command a newcomer or CI needs. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
MUSL  := x86_64-unknown-linux-musl
DIST  := dist
BIN   := $(DIST)/healthprobe-linux-amd64
TLS_BIN := $(DIST)/healthprobe-tls-linux-amd64
# ring, the TLS build's crypto, compiles C for the target: Debian's musl-tools.
MUSL_CC ?= musl-gcc

.PHONY: static static-http static-tls test test-unit test-static test-e2e test-dist demo bench clean

# The HTTP-only static executable for x86_64. Built with the nightly
# toolchain's -Z build-std and an immediate-abort panic: that drops std's
# unwinder and backtrace printer, half of the binary (717 KB -> 350 KB).
# A panic then raises SIGILL, which src/watchdog.rs turns into exit 1.
RELEASE_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static \
	-Zunstable-options -Cpanic=immediate-abort
static: static-http static-tls

static-http:
	@rustup target list --installed --toolchain nightly | grep -qx $(MUSL) || rustup target add --toolchain nightly $(MUSL)
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) +nightly build --release --locked \
		--target $(MUSL) -Zbuild-std=std,panic_abort
	@mkdir -p $(DIST)
	cp target/$(MUSL)/release/healthprobe $(BIN).new && mv -f $(BIN).new $(BIN)

# The TLS build, dist/healthprobe-tls-linux-amd64 (rustls; ring compiles C).
static-tls: static-http
	@command -v $(MUSL_CC) >/dev/null || { echo "make static: the TLS build needs $(MUSL_CC) (apt-get install musl-tools)" >&2; exit 1; }
	CC_x86_64_unknown_linux_musl=$(MUSL_CC) RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) +nightly build --release --locked \
		--target $(MUSL) -Zbuild-std=std,panic_abort --features tls
	cp target/$(MUSL)/release/healthprobe $(TLS_BIN).new && mv -f $(TLS_BIN).new $(TLS_BIN)

# Every test: unit and integration tests against the debug build; the same
# against the static builds; reliability; end-to-end against Gunicorn, nginx
# and PostgreSQL; then every platform's artifacts (under qemu-user), the OCI
# image, and two clean builds compared byte for byte.
test: test-unit test-static test-reliability test-e2e test-dist

test-dist: test-qemu image repro

test-unit:
	$(CARGO) test --locked
	$(CARGO) test --locked --features tls --lib --test tls --test unix

test-static: static
	HEALTHPROBE_BIN=$(abspath $(BIN)) $(CARGO) test --locked --test probe --test unix
	HEALTHPROBE_BIN=$(abspath $(TLS_BIN)) $(CARGO) test --locked --features tls --test tls --test unix

test-e2e: static-http
	@if [ -f tests/e2e/run.sh ]; then bash tests/e2e/run.sh; else echo "e2e: not present yet"; fi

demo: static-http
	bash examples/demo.sh

bench: static
	bash bench/run.sh

clean:
	rm -rf target $(DIST)

# ---------------------------------------------------------------------------
# Release artifacts for every platform: build/ (see build/README.md).
# Needs build/install-deps.sh once (make dist-deps; CI runs it).
.PHONY: dist-deps dist size image test-qemu repro

dist-deps:
	bash build/install-deps.sh

# dist/healthprobe-linux-ARCH, dist/healthprobe-tls-linux-ARCH, dist/SHA256SUMS.
dist:
	bash build/dist.sh

# The Markdown size table for the README; fails over the size budgets.
size: dist
	bash build/size.sh

# dist/healthprobe-oci.tar (and -tls-): amd64 + arm64 OCI index, then checked
# with skopeo and by unpacking the layer.
image: dist
	bash build/image.sh
	bash build/verify-image.sh

# The integration tests against every dist artifact, natively or under qemu-user.
test-qemu: dist
	bash build/test-qemu.sh

# Two clean builds from two checkouts at different paths: identical bytes.
repro:
	bash build/repro.sh

# ---------------------------------------------------------------------------
# Reliability (RELIABILITY.md): randomised hostile servers, CPU starvation,
# 500 probes at once, a full backlog, peak RSS, least privilege under strace,
# signals and SIGPIPE, all against the static build. (`cargo test` also runs
# tests/hostile.rs, tests/reliability.rs and tests/fuzz_corpus.rs against the
# debug build; the parts that need the static build skip there with a note.)
.PHONY: test-reliability fuzz

test-reliability: static
	@command -v strace >/dev/null && command -v unshare >/dev/null || { \
		apt-get update && apt-get install -y -o DPkg::Lock::Timeout=600 strace util-linux; }
	HEALTHPROBE_BIN=$(abspath $(BIN)) HEALTHPROBE_TLS_BIN=$(abspath $(TLS_BIN)) \
		$(CARGO) test --locked --test hostile --test reliability --test fuzz_corpus -- --test-threads=1

# Long fuzz runs: every target for FUZZ_SECONDS (default 180) each, then
# `cargo fuzz cmin`, growing fuzz/corpus/ (needs nightly; installs cargo-fuzz).
fuzz:
	bash fuzz/run.sh
