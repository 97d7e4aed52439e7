# builder sets DISTRO_NAME (centos, rocky, almalinux: pkg-map's redhat family) and DIB_RELEASE
# (9-stream, 9, ...) from the spec's target.
export DISTRO_NAME=${DISTRO_NAME:?builder sets DISTRO_NAME}
export DIB_RELEASE=${DIB_RELEASE:?builder sets DIB_RELEASE}
export DIB_INIT_SYSTEM=systemd
export EFI_BOOT_DIR="EFI/${DISTRO_NAME}"
export YUM=dnf
export DIB_YUM_MINIMAL_CREATE_INTERFACES=0
# DIB's base element would install iscsi-initiator-utils (for iSCSI boot, which these images do not do).
export DIB_SKIP_BASE_PACKAGE_INSTALL=1
