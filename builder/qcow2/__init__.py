"""The KVM qcow2 image: composed for diskimage-builder, verified offline and booted, published to Glance."""
