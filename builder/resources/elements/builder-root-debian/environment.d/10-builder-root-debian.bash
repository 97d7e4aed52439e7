# builder sets DISTRO_NAME and DIB_RELEASE from the spec's target (debian, bookworm).
export DISTRO_NAME=${DISTRO_NAME:?builder sets DISTRO_NAME}
export DIB_RELEASE=${DIB_RELEASE:?builder sets DIB_RELEASE}
export DIB_INIT_SYSTEM=systemd
export EFI_BOOT_DIR="EFI/debian"
export DIB_NETWORK_INTERFACE_NAMES=${DIB_NETWORK_INTERFACE_NAMES:-"eth0 eth1"}
# DIB's base element would install open-iscsi (for iSCSI boot, which these images do not do): the image adds
# only what booting from its own disk needs.
export DIB_SKIP_BASE_PACKAGE_INSTALL=1
