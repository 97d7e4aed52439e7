"""The files and units the baseline owns, by path: read by the steps that write them and the checks that read them.

Each item (items/) says which of these it writes (`owns`); a spec's files[] may not write one."""
from ..families import FAMILIES

SSHD_CONFIG = "/etc/ssh/sshd_config"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/10-builder.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-builder.conf"
LIMITS_FILE = "/etc/security/limits.d/90-builder-nofile.conf"
SYSTEMD_LIMITS_FILE = "/etc/systemd/system.conf.d/90-builder-limits.conf"
USER_LIMITS_FILE = "/etc/systemd/user.conf.d/90-builder-limits.conf"
PREPULL_UNIT = "builder-prepull.service"
PREPULL_UNIT_FILE = f"/etc/systemd/system/{PREPULL_UNIT}"
PREPULL_SCRIPT = "/usr/local/libexec/builder-prepull"
# podman's registries.conf drop-in with the node's site's mirrors (containers-registries.conf.d(5)).
MIRRORS_DROPIN = "/etc/containers/registries.conf.d/50-builder-mirrors.conf"
# Per family (its module in builder.families): chrony's configuration, rc.local, the locale file.
CHRONY_CONF = {family: facts.paths.chrony_conf for family, facts in FAMILIES.items()}
RC_LOCAL = {family: facts.paths.rc_local for family, facts in FAMILIES.items()}
LOCALE_CONF = {family: facts.paths.locale_conf for family, facts in FAMILIES.items()}
SUDOERS_PREFIX = "/etc/sudoers.d/90-builder-"
NM_KEYFILE_DIR = "/etc/NetworkManager/system-connections/"
