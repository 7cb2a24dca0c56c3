"""muck-tracker: GPS tracking and enforcement for muck trucks."""

__version__ = "0.1.0"
