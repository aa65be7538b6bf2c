# healthprobe — every command a newcomer or CI needs. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
MUSL  := x86_64-unknown-linux-musl
DIST  := dist
BIN   := $(DIST)/healthprobe-linux-amd64

.PHONY: static test test-unit test-static test-e2e demo bench clean

# The HTTP-only static executable for x86_64. Built with the nightly
# toolchain's -Z build-std and an immediate-abort panic: that drops std's
# unwinder and backtrace printer, half of the binary (717 KB -> 350 KB).
# A panic then raises SIGILL, which src/watchdog.rs turns into exit 1.
RELEASE_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static \
	-Zunstable-options -Cpanic=immediate-abort
static:
	@rustup target list --installed --toolchain nightly | grep -qx $(MUSL) || rustup target add --toolchain nightly $(MUSL)
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) +nightly build --release --locked \
		--target $(MUSL) -Zbuild-std=std,panic_abort
	@mkdir -p $(DIST)
	cp target/$(MUSL)/release/healthprobe $(BIN)

# Every test: unit and integration tests against the debug build, the same
# integration tests against the static release binary, then end-to-end.
test: test-unit test-static test-e2e

test-unit:
	$(CARGO) test --locked

test-static: static
	HEALTHPROBE_BIN=$(abspath $(BIN)) $(CARGO) test --locked --test probe

test-e2e: static
	@if [ -f tests/e2e/run.sh ]; then bash tests/e2e/run.sh; else echo "e2e: not present yet"; fi

demo: static
	bash examples/demo.sh

bench: static
	bash bench/run.sh

clean:
	rm -rf target $(DIST)
