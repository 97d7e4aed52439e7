"""The bootstrapped root filesystem every image of a spec starts from (the container image and the qcow2)."""
