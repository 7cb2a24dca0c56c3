"""Checkpoint plate sightings: intake, the rules, the review of terminals (issue 18)."""
