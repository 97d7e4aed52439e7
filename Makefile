# The two commands of the README: `make examples` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out
SYSTEM_PACKAGES := debootstrap shellcheck rpm xorriso mtools dosfstools isolinux pxelinux syslinux-common qemu-system-x86 ipxe-qemu debian-installer-12-netboot-amd64 grub-common grub-efi-amd64-bin ovmf docker.io docker-registry zstd qemu-utils kpartx gdisk sudo openssh-client file git skopeo

.PHONY: examples test test-fast lint bench bench-container bench-qcow2 deps venv clean

EXAMPLES    := $(sort $(wildcard examples/*.yaml))
EL_EXAMPLES := $(filter-out examples/debian12-node.yaml,$(EXAMPLES))

examples: deps venv ## validate and build every shipped example spec into $(OUT)/ (root: the container image bootstraps Debian)
	$(BIN)/builder validate $(EXAMPLES)
	$(BIN)/builder build $(EXAMPLES) --out $(OUT)
	$(BIN)/builder build $(EL_EXAMPLES) --only iso --out $(OUT)
	$(BIN)/builder publish examples/pxe-rack-rocky9.yaml --to pxe --root $(OUT)/pxe-tree
	$(BIN)/builder build examples/debian12-node.yaml --only container --out $(OUT)
	$(BIN)/builder build $(EXAMPLES) --only qcow2 --dry-run --out $(OUT)

test: deps venv ## every test, the slow ones (debootstrap, chroot) included
	BUILDER_TESTS_STRICT=1 $(BIN)/python -m pytest -m "slow or not slow"

test-fast: venv ## the tests that need no system components
	$(BIN)/python -m pytest -m "not slow"

lint: venv
	$(BIN)/ruff check builder tests benchmarks

bench: venv
	$(BIN)/python benchmarks/kickstart_build.py

bench-container: venv ## our image (one layer, the layer plan, zstd) vs a conventional and a squashed image: cold and update pulls (root, ~40 min)
	$(BIN)/python benchmarks/container_layers.py

bench-qcow2: venv ## DIB build and QEMU boot against a plain DIB image (root, ~20 min)
	$(BIN)/python benchmarks/qcow2_build.py

deps: ## system packages the tests need (Debian 12; run as root)
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
