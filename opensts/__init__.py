"""OpenSTS: a self-hosted, AWS-compatible Security Token Service."""

__version__ = "0.1.0"
__all__ = ["__version__"]
