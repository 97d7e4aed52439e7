"""The flattened single-layer container base image: bootstrap, baseline, strip, layer, load, push."""
