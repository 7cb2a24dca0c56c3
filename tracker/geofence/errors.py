"""Errors of the geofence engine."""

from __future__ import annotations


class GeometryError(ValueError):
    """A fence geometry was refused; ``field`` names the offending input, ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
