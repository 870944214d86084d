"""tc: the train container CLI."""

__version__ = "0.1.0"
