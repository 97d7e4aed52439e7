"""One spec's plan: what every artifact kind of a build reads, computed once per spec by `builder build` (builder.build)
and handed to each kind, as mkosi hands its one `Context` to every step.

    plan = plan_for(item, images=True)    # the spec, its baselines, its target; with images, the image definition
                                          # and the base tree both images start from

The kinds take what they need from the plan and derive nothing from the spec that the plan holds.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..baseline import Baseline
from ..errors import BuilderError
from ..spec import LoadedSpec, Spec
from ..targets import TargetInfo
from . import base_tree_for
from .definition import ImageDefinition, image_definition
from .tree import BaseTree


@dataclass(frozen=True)
class BaseImage:
    """What the container and the qcow2 start from: the target's image definition and the tree it bootstraps."""

    definition: ImageDefinition
    tree: BaseTree


@dataclass(frozen=True)
class Plan:
    item: LoadedSpec
    baseline: Baseline                  # rendered for an installed system: the kickstart's, the qcow2's
    container_baseline: Baseline        # rendered for a container (and what the base tree installs)
    image: BaseImage | None = None      # None: no kind of this build starts from the base tree

    @property
    def spec(self) -> Spec:
        return self.item.spec

    @property
    def sha256(self) -> str:
        return self.item.sha256

    @property
    def target(self) -> TargetInfo:
        return self.spec.target.info

    @property
    def base_image(self) -> BaseImage:
        """The image definition and base tree (a kind that starts from them is planned with images=True)."""
        if self.image is None:
            raise BuilderError(f"{self.spec.name}: planned without its base tree, which an image starts from")
        return self.image


def plan_for(item: LoadedSpec, images: bool) -> Plan:
    """The plan of one spec; `images`: with the image definition and the base tree (a container or qcow2 is made)."""
    container_baseline = Baseline(item.spec, context="container")
    image = None
    if images:
        definition = image_definition(item.spec)
        image = BaseImage(definition, base_tree_for(item.spec, definition, container_baseline))
    return Plan(item, Baseline(item.spec), container_baseline, image)
