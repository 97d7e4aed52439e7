"""The spec layer: the declarative spec's model, loading, cross-field rules, hash and per-machine derivation.

fields (checked string types), keys (repository key files: read, checked, embedded) -> model (pydantic
models, JSON schema) -> kernel (kernel and installer arguments the spec decides), machines (per-machine
specs), digest (spec hash) -> checks (cross-field rules) -> load (YAML from source, with lines; load_spec,
load_all).
It imports nothing above it (only errors, targets and packages of builder), so every
other layer can import it; tests/test_layers.py holds it to that.
"""
from .digest import spec_sha256
from .kernel import CLASSIC_NAMES_ARGS, MANAGED_ARGS, inst_repo
from .load import LoadedSpec, load_all, load_spec, load_spec_text, spec_from_source
from .machines import device_name, machine_spec, spec_in_site
from .model import (
    MOST_LAYERS,
    PLAINTEXT_HINT,
    SPEC_VERSION,
    BlockDevice,
    BootProto,
    Bridge,
    CloudInit,
    Compression,
    ContainerSettings,
    Disk,
    DiskLayout,
    Ethernet,
    ExtraFile,
    Firewall,
    HostEntry,
    Install,
    IPConfig,
    KeyFile,
    KickstartSettings,
    LayerContent,
    Limits,
    Machine,
    Model,
    Network,
    Packages,
    Partition,
    PlaintextPassword,
    Prepull,
    Pxe,
    Qcow2Settings,
    RcLocal,
    Repo,
    Root,
    SELinux,
    Services,
    Spec,
    Sshd,
    Time,
    User,
    Vlan,
    json_schema,
    layer_count_problem,
    layer_plan_problem,
)

__all__ = [
    "PLAINTEXT_HINT", "SPEC_VERSION", "BlockDevice", "BootProto", "Bridge", "CloudInit", "Compression",
    "ContainerSettings", "Disk", "DiskLayout", "Ethernet", "ExtraFile", "Firewall", "HostEntry", "IPConfig", "Install",
    "KeyFile", "KickstartSettings", "LayerContent", "Limits", "Machine", "Model", "Network", "Packages", "Partition", "PlaintextPassword",
    "Prepull", "Pxe", "Qcow2Settings", "RcLocal", "Repo", "Root", "SELinux", "Services", "Spec", "Sshd", "Time",
    "User", "Vlan", "MOST_LAYERS", "json_schema", "layer_count_problem", "layer_plan_problem",
    "LoadedSpec", "load_all", "load_spec", "load_spec_text", "spec_from_source",
    "spec_sha256",
    "CLASSIC_NAMES_ARGS", "MANAGED_ARGS", "inst_repo",
    "device_name", "machine_spec", "spec_in_site",
]
