# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.

SHELL := /bin/bash

# Ferry: the two commands are `make run` (the demo) and `make test`.
# Everything they need is provisioned by the scripts below on first use and
# cached under the user's cache directory.

# The guest and the board, all overridable: make run KERNEL=... APPEND=...
KERNEL ?= build/guest/Image
INITRD ?= build/guest/initrd.cpio.gz
APPEND ?= console=ttyAMA0 guest.mode=counter
DEMO_APPEND ?= console=ttyAMA0 quiet guest.mode=migrate guest.pattern_mb=32
CPU    ?= max,pauth-impdef=on
MEM    ?= 1G

# The board the image is for: virt (QEMU, build/ferry.elf) or imx8mp (an
# NXP i.MX8M Plus board, build/ferry-imx8mp.elf; the imx8mp build tag
# selects boot/imx8mp in cmd/ferry). Ferry's image is linked 2 MiB into RAM,
# inside its carve-out, on both (boot/virt, boot/imx8mp: RAMBase + 2 MiB;
# the firmware's DTB sits below it). Each ELF also becomes an arm64 boot
# image (build/ferry.img, build/ferry-imx8mp.img: cmd/ferry-mkimage), which
# a loader of Linux Images boots (QEMU's, U-Boot's booti).
BOARD ?= virt
IMAGE_LDFLAGS := -T 0x40200000 -R 0x1000
TAMAGO_ENV := GOOS=tamago GOARCH=arm64 GOOSPKG=github.com/usbarmory/tamago
ifeq ($(BOARD),virt)
IMAGE_ELF  := build/ferry.elf
IMAGE_IMG  := build/ferry.img
IMAGE_TAGS :=
else ifeq ($(BOARD),imx8mp)
IMAGE_ELF  := build/ferry-imx8mp.elf
IMAGE_IMG  := build/ferry-imx8mp.img
IMAGE_TAGS := -tags imx8mp
else
$(error BOARD=$(BOARD): want virt or imx8mp)
endif

GUEST := build/guest/Image build/guest/initrd.cpio.gz

.PHONY: soak all image guest qemu uboot run board test unit system bench fuzz clean

all: image guest

# The image's runtime lives in the tamago module, which no host package
# imports: download it explicitly (GOOSPKG must be in the module cache).
image:
	@mkdir -p build
	@go mod download github.com/usbarmory/tamago
	@tg=$$(bash scripts/toolchain.sh) && \
		$(TAMAGO_ENV) $$tg build -trimpath $(IMAGE_TAGS) -ldflags "$(IMAGE_LDFLAGS)" -o $(IMAGE_ELF) ./cmd/ferry
	@echo "built $(IMAGE_ELF)"
	@go run ./cmd/ferry-mkimage -board $(BOARD) $(IMAGE_ELF) $(IMAGE_IMG)

guest:
	@bash scripts/guest.sh

qemu:
	@bash scripts/qemu.sh

# U-Boot for QEMU's virt board, which TestUBootBooti boots Ferry with.
uboot:
	@bash scripts/uboot.sh

HOST_GO := $(shell find cmd internal boot api -name '*.go' 2>/dev/null) go.mod

build/ferry-board: $(HOST_GO)
	go build -o $@ ./cmd/ferry-board

build/ferryctl: $(HOST_GO)
	go build -o $@ ./cmd/ferryctl

build/ferry-switch: $(HOST_GO)
	go build -o $@ ./cmd/ferry-switch

# The demo: two boards on a loopback management link, the guest booted on
# the first and migrated to the second, both consoles here.
run: image guest qemu build/ferryctl build/ferry-switch build/ferry-board
	go build -o build/ferry-demo ./cmd/ferry-demo
	exec build/ferry-demo -kernel "$(KERNEL)" -initrd "$(INITRD)" -append "$(DEMO_APPEND)" -cpu "$(CPU)" -m "$(MEM)" $(DEMO_FLAGS)

# One board: Ferry at EL2, the guest at EL1, its console here.
board: image guest qemu build/ferry-board
	exec build/ferry-board -kernel "$(KERNEL)" -initrd "$(INITRD)" -append "$(APPEND)" -cpu "$(CPU)" -m "$(MEM)"

# Host unit tests, then the system tests against the real image and guest.
test: unit system

# go vet, every Go file gofmt'ed, then the host tests. The board DTBs of
# Debian's arm64 kernel (scripts/dtbs.sh) are fetched once
# into the user's cache for the test that describes every one of them.
unit:
	go vet -composites=false ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		[ -z "$$unformatted" ] || { echo "not gofmt'ed: $$unformatted"; exit 1; }
	@dtbs=$$(bash scripts/dtbs.sh) && echo "FERRY_DTBS=$$dtbs go test ./..." && FERRY_DTBS=$$dtbs go test ./...
	@if command -v gcc >/dev/null; then echo "go test -race ./dirty/"; go test -race ./dirty/; \
		else echo "unit: no C compiler (gcc), so the dirty log's concurrent test runs without the race detector"; fi

system: image guest qemu uboot
	@mkdir -p build; FERRY_SYSTEM=1 go test -count=1 -timeout 40m -v ./test/system/ > build/system-test.log 2>&1; rc=$$?; \
		grep -E '^( *--- |PASS|FAIL|ok )' build/system-test.log; \
		[ $$rc = 0 ] || { echo "--- end of build/system-test.log:"; tail -80 build/system-test.log; }; exit $$rc

# Thin-ness (the guest benchmark natively and under Ferry, 5 boots each) and
# live migration, Ferry against QEMU's own, over guests of 256 MiB, 512 MiB
# and 1 GiB, idle and dirtying at 8, 32 MiB/s and flat out, with the raw
# management link (cmd/ferry-nettest) measured in the same run; figures to
# docs/bench/ (about 25 min on 2 cores). BENCH_FLAGS=-quick: 512 MiB, idle
# and 8 MiB/s, Ferry and QEMU (add -thin=false to skip thin-ness); see
# go run ./cmd/ferry-bench -h.
BENCH_FLAGS ?=
bench: image guest qemu build/ferryctl
	@tg=$$(bash scripts/toolchain.sh) && \
		$(TAMAGO_ENV) $$tg build -trimpath -ldflags "$(IMAGE_LDFLAGS)" -o build/nettest.elf ./cmd/ferry-nettest
	go run ./cmd/ferry-bench -out docs/bench -runs 5 $(BENCH_FLAGS)
	go run ./cmd/ferry-bench -out docs/bench -runs 3 -smp 2 -migration=false -idle=false -net=false

# SOAK (default 50) consecutive live migrations a->b->a... of a guest that
# keeps rewriting and verifying its memory; figures to docs/bench/soak.md.
SOAK ?= 50
soak: image guest qemu
	FERRY_SYSTEM=1 FERRY_SOAK=$(SOAK) FERRY_SOAK_OUT=$(CURDIR)/docs/bench/soak.json \
		go test -count=1 -timeout 120m -v -run '^TestSoak$$' ./test/system/

# Every fuzz target for FUZZTIME (default 10s) each; FUZZTIME=1000000x for
# a count (docs/bench/fuzz.md).
fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf build
