"""builder: one declarative spec, one server baseline, three artifacts."""
__version__ = "0.1.0"
