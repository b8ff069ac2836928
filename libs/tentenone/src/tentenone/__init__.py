"""tentenone: the protocol library shared by the coordinator's services and the app."""

__all__ = ["__version__"]

__version__ = "0.1.0"
