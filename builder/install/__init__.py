"""Installing EL servers from the spec's kickstart: the kickstart itself (`kickstart`), one per machine (`machines`),
the OEMDRV and boot ISOs (`iso`), the PXE tree (`pxe`) with its install state (`pxe_state`), and the HTTP server that
hands each machine its kickstart and takes its report (`serve`)."""
