"""The data builder ships inside its package (declared as package data in pyproject.toml), found with importlib.resources:

    elements/      our diskimage-builder elements (the qcow2's), in DIB's element contract
    base-images/   the image definitions: how the base tree is bootstrapped, the container's layer plan and config
    kickstarts/    the jinja2 kickstart templates

DIB reads elements from ELEMENTS_PATH and Jinja from a FileSystemLoader: both need real directories. A checkout, an
editable install and an installed wheel (pip unpacks it) give one; an import from a zip archive does not, and is refused.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..errors import BuilderError


def directory(name: str) -> Path:
    """The real directory of one of the shipped data sets above (its name here, e.g. "elements")."""
    place = files(__name__) / name
    if not isinstance(place, Path):
        # Python 3.11's importlib.resources.as_file extracts single files only, not a tree of DIB elements.
        raise BuilderError(f"builder's {name}/ is inside an archive ({place}): diskimage-builder and the kickstart templates "
                           "need real directories",
                           hint="install builder unzipped: pip install the wheel (pip unpacks it), do not import it from a zip")
    if not place.is_dir():
        raise BuilderError(f"builder's {name}/ is missing from its package ({place}): the install is incomplete",
                           hint="reinstall builder from a wheel built with its package data (pyproject.toml)")
    return place
