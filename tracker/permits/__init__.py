"""Haul routes and transport permits: corridors, the permit lifecycle and approval checks."""
