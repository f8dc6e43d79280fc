# Iterative device migration for QEMU: a patch series against Debian's
# qemu 1:10.2.2+ds-1.  See README.md.

TOP      := $(CURDIR)
BUILD    := $(TOP)/build
TREE     := $(BUILD)/qemu
BASE     := $(BUILD)/baseline/qemu
DL       := $(BUILD)/dl
PATCHES  := $(TOP)/patches

# Python helpers shared by demo, bench and the fuzz tooling
export PYTHONPATH := $(TOP)/pylib

# Take the source package from a local cache when there is one
QEMU_SOURCE_CACHE ?= $(wildcard $(abspath $(TOP)/../shared/qemu-source))
export QEMU_SOURCE_CACHE

# What the tests and the demo need from the patched build
TARGETS  := qemu-system-x86_64 qemu-img storage-daemon/qemu-storage-daemon \
            tests/qtest/migration-test tests/qtest/qos-test \
            tests/qtest/virtio-net-failover \
            tests/qtest/virtio-net-iterative-test \
            tests/qtest/virtio-iterative-devices-test \
            tests/vhost-user-net-test-backend tests/vduse-net-test-device

.PHONY: help deps source tree build baseline asan fuzz-build fuzz fuzz-seeds \
	export check demo bench l1 clean

help:
	@echo "make demo      build, then live-migrate a guest with and without the feature"
	@echo "make check     checkpatch + build + all tests (ends with 'N passed, N failed')"
	@echo "make bench     downtime vs queue pairs, 3 modes x datapaths (QUICK=1: a few minutes)"
	@echo "make l1 CMD=.. run CMD in a nested guest with /dev/vhost-net (scripts/l1-run.sh)"
	@echo "make tree      (re)create build/qemu from the pristine import + patches/"
	@echo "make export    write the work tree's commits back to patches/"
	@echo "make build     build the patched QEMU in build/qemu/build"
	@echo "make baseline  build stock QEMU in build/baseline/qemu/build"
	@echo "make asan      build the patched QEMU with clang, ASan, UBSan and the fuzz targets"
	@echo "               in build/qemu/build-fuzz (= make fuzz-build)"
	@echo "make fuzz      fuzz the iterative loader (FUZZ_TIME=600 s per target, 2 at once)"
	@echo "make fuzz-seeds  remake fuzz/corpus/ seeds from real migration streams, and"
	@echo "               fuzz/crashes/ regression inputs from them"

deps:
	@scripts/install-deps.sh

source: deps
	@scripts/fetch-source.sh $(DL)

tree: source
	@scripts/mk-tree.sh $(DL) $(TREE) $(BASE) $(PATCHES)

# Create the tree if it is missing, never touch an existing one
$(TREE)/.git: | source
	@scripts/mk-tree.sh $(DL) $(TREE) $(BASE) $(PATCHES)

build: deps | $(TREE)/.git
	@scripts/build-qemu.sh $(TREE) $(TARGETS)

# Stock QEMU: a worktree of the tree at the pristine import
$(BASE)/.git: | $(TREE)/.git
	@mkdir -p $(dir $(BASE))
	@git -C $(TREE) worktree prune
	@git -C $(TREE) worktree add -q --detach $(BASE) pristine

baseline: deps | $(BASE)/.git
	@scripts/build-qemu.sh $(BASE) qemu-system-x86_64

# The patched QEMU built with clang, AddressSanitizer, UBSan and libFuzzer
# instrumentation, in build/qemu/build-fuzz: its qemu-system-x86_64 runs
# the sanitizer suites of make check, qemu-fuzz-x86_64 the fuzz targets
asan: deps | $(TREE)/.git
	@QEMU_CC=clang-14 QEMU_BUILD_DIR=build-fuzz \
		QEMU_CONFIGURE_EXTRA="--cxx=clang++-14 --enable-fuzzing --enable-asan --enable-ubsan" \
		scripts/build-qemu.sh $(TREE) qemu-system-x86_64 qemu-fuzz-x86_64

fuzz-build: asan

fuzz: fuzz-build
	@scripts/fuzz.sh run

# Seeds from a real migration of the demo guest (root: a netns and a tap)
fuzz-seeds: build
	@demo/mk-guest.sh $(BUILD)/guest
	@unshare -n /usr/bin/python3 scripts/fuzz-seeds.py --python $(TREE)/python \
		$(TREE)/build/qemu-system-x86_64 $(BUILD)/guest $(TOP)/fuzz/corpus
	@/usr/bin/python3 scripts/fuzz-regressions.py $(TREE) \
		$(TOP)/fuzz/corpus/virtio-net-iterative/seed-stream \
		$(TOP)/fuzz/crashes/virtio-net-iterative

export: | $(TREE)/.git
	@scripts/tree-sync.sh export $(TREE) $(PATCHES)

check: build baseline asan
	@scripts/check.sh

DEMO_RUNS ?= 3
demo: build baseline
	@demo/mk-guest.sh $(BUILD)/guest
	@mkdir -p $(BUILD)/demo
	@/usr/bin/python3 demo/demo.py --runs $(DEMO_RUNS) \
		--json $(BUILD)/demo/demo.json --png $(BUILD)/demo/demo.png \
		--patched $(TREE)/build/qemu-system-x86_64 \
		--baseline $(BASE)/build/qemu-system-x86_64 \
		--guest $(BUILD)/guest --python $(TREE)/python \
		--vhost-backend $(VHOST_BACKEND)

# QUICK=1: 1 and 4 queue pairs, 3 runs (a few minutes); a full run (about
# 30 min) also updates bench/results/ (RESULTS.md, summary, plots).
QUICK ?=
PUBLISH ?= $(if $(QUICK),,1)
VHOST_BACKEND ?= $(TREE)/build/tests/vhost-user-net-test-backend
BENCH_QTEST ?= $(TREE)/build/tests/qtest/virtio-net-iterative-test
# Run CMD in a nested (L1) guest that has /dev/vhost-net, against this
# host's files (scripts/l1-run.sh), e.g.
#   make l1 CMD="ls -l /dev/vhost-net"
l1: build
	@scripts/l1-run.sh -- $(CMD)

bench: build baseline
	@demo/mk-guest.sh $(BUILD)/guest
	@/usr/bin/python3 bench/bench.py $(if $(QUICK),--quick) \
		$(if $(PUBLISH),--publish bench/results/RESULTS.md) \
		--patched $(TREE)/build/qemu-system-x86_64 \
		--baseline $(BASE)/build/qemu-system-x86_64 \
		--guest $(BUILD)/guest --python $(TREE)/python \
		--vhost-backend $(VHOST_BACKEND) --qtest $(BENCH_QTEST) \
		--out $(BUILD)/bench $(BENCH_ARGS)

clean:
	rm -rf $(TREE)/build $(TREE)/build-asan $(TREE)/build-fuzz $(BASE)/build \
		$(BUILD)/check $(BUILD)/fuzz
