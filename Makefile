# The two commands of the README: `make examples` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out
# What building needs (make examples, and builder on a Debian/Ubuntu build host): the container bootstraps (debootstrap, dnf),
# the ISOs, and a real qcow2 build (DIB: qemu-utils, kpartx, gdisk, sudo). No service among them.
BUILD_PACKAGES := debootstrap dnf rpm zstd xorriso mtools qemu-utils kpartx gdisk sudo
# What only the tests need: a private Docker engine and registry (started by the tests on 127.0.0.1, stopped
# by PID; never enabled on the host), QEMU boots (OVMF, iPXE, Debian's netboot kernel), external validators.
TEST_PACKAGES := shellcheck gnupg iproute2 createrepo-c dosfstools isolinux pxelinux syslinux-common qemu-system-x86 ipxe-qemu \
	debian-installer-12-netboot-amd64 grub-common grub-efi-amd64-bin ovmf docker.io docker-registry openssh-client file git \
	skopeo podman libcap2-bin openscap-scanner openscap-utils
# Services the test packages would enable and start on install: kept stopped and disabled.
TEST_SERVICES := docker.service docker.socket docker-registry.service containerd.service \
	podman.socket podman.service podman-restart.service podman-auto-update.timer

.PHONY: examples test test-fast lint golden bench bench-container bench-errata bench-layers bench-fleet bench-qcow2 bench-refresh el-mirror-check deps test-deps venv clean

# The examples name an internal mirror (as users' specs do); here they are built from the mirror this
# host's APT sources name (BUILDER_MIRRORS: see README). An explicit BUILDER_MIRRORS wins.
BUILDER_MIRRORS ?= $(shell scripts/host-mirrors 2>/dev/null)
export BUILDER_MIRRORS

EXAMPLES    := $(sort $(wildcard examples/*.yaml))
EL_EXAMPLES := $(filter-out examples/debian12-node.yaml,$(EXAMPLES))

examples: deps venv ## validate and build every shipped example spec into $(OUT)/ (root: the container image bootstraps Debian)
	$(BIN)/builder validate $(EXAMPLES)
	@# validate said each spec's warnings: the builds below say them no more (--quiet), except the long container build's progress
	$(BIN)/builder build $(EXAMPLES) --quiet --out $(OUT)
	$(BIN)/builder build $(EL_EXAMPLES) --only iso --quiet --out $(OUT)
	$(BIN)/builder publish examples/pxe-rack-rocky9.yaml --to pxe --quiet --root $(OUT)/pxe-tree
	$(BIN)/builder build examples/debian12-node.yaml --only container --out $(OUT)
	@# Every image's plan into $(OUT)/<name>/plan-<kind>.txt (an EL image is built from an EL mirror: make el-mirror-check).
	@# A kind that a spec cannot have (builder exits 2) gets a plan file that says why; anything else fails.
	@for spec in $(EXAMPLES); do name=$$(basename $$spec .yaml); mkdir -p $(OUT)/$$name; for kind in container qcow2; do \
	    plan=$(OUT)/$$name/plan-$$kind.txt; \
	    if $(BIN)/builder build $$spec --only $$kind --dry-run --quiet --out $(OUT) > $$plan 2> $$plan.why; then \
	        echo "plan: $$plan"; \
	    elif [ $$? -eq 2 ]; then \
	        sed -e 's/^error: /no plan: /' -e 's/^/# /' $$plan.why > $$plan; echo "plan: $$plan (no $$kind for $$name: the file says why)"; \
	    else \
	        cat $$plan.why >&2; rm -f $$plan.why; exit 1; \
	    fi; rm -f $$plan.why; \
	done; done

# The fast tests run in parallel (pytest-xdist); the slow ones share real components (one Docker engine,
# one built image, one qcow2) through session fixtures, so they run in one process.
PYTEST := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

test: test-deps venv ## every test, the slow ones (debootstrap, DIB, QEMU, Docker, Glance) included
	BUILDER_TESTS_STRICT=1 $(PYTEST) -m "not slow" -n auto
	BUILDER_TESTS_STRICT=1 $(PYTEST) -m slow

test-fast: venv ## the tests that need no system components, in parallel
	$(PYTEST) -m "not slow" -n auto

# The opt-in real-mirror tier (README): with BUILDER_EL_MIRROR (the base URL of your CentOS Stream 9 mirror;
# EL_MIRROR_EXAMPLE=examples/kvm-host-rocky9.yaml for a Rocky 9 one, examples/legacy-rocky8.yaml for EL 8: its image's
# own rpm and dnf then check the Berkeley DB database), one EL example's container and qcow2 are built for real from it
# and verified (the qcow2 booted in QEMU); as root. Without it, the same builds as a dry run.
EL_MIRROR_EXAMPLE ?= examples/compute-node-cs9.yaml
el-mirror-check: venv ## EL container and qcow2 from BUILDER_EL_MIRROR, built and verified (root; dry run without it)
	$(BIN)/python scripts/el-mirror-check --mirror "$(BUILDER_EL_MIRROR)" --example $(EL_MIRROR_EXAMPLE) --out $(OUT)/el-mirror-check

lint: venv ## ruff, and mypy as pyproject.toml sets it up (strict on the foundation and spec layers)
	$(BIN)/ruff check builder tests benchmarks
	$(BIN)/mypy

golden: venv ## rewrite tests/golden/* and docs/baseline.md's item table from what builder renders now; prints the diff
	scripts/update-golden

bench: venv
	$(BIN)/python -m benchmarks.kickstart_build

bench-container: venv ## our image (one layer, the layer plan, zstd) vs a conventional and a squashed image: cold and update pulls (root, ~40 min)
	$(BIN)/python -m benchmarks.container_layers

bench-errata: venv ## the monthly errata update (the mirror's bookworm-security, a synthetic set): bytes and time against the lower bound and the peers (root, ~40 min)
	REPS=$${REPS:-2} $(BIN)/python -m benchmarks.container_errata

bench-layers: venv ## how many package layers: the errata bytes and the cold and errata pull times per container.package_layers (root, ~20 min)
	REPS=$${REPS:-2} $(BIN)/python -m benchmarks.package_layers --pull

bench-fleet: venv ## 20 and 50 nodes pre-pull our image from one origin registry and through a pull-through mirror per rack (root, ~10 min)
	$(BIN)/python -m benchmarks.fleet_prepull

bench-qcow2: venv ## DIB build and QEMU boot against a plain DIB image (root, ~20 min)
	$(BIN)/python -m benchmarks.qcow2_build

bench-refresh: venv ## a base tree after the mirror took errata: bootstrap again vs upgrade in place (root, ~15 min)
	$(BIN)/python -m benchmarks.base_tree_refresh

deps: ## system packages building needs (Debian 12 / Ubuntu; run as root)
	@scripts/apt-install $(BUILD_PACKAGES)

test-deps: deps ## system packages the tests need too; their services are neither started nor enabled
	@scripts/apt-install --no-services "$(TEST_SERVICES)" $(TEST_PACKAGES)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache
