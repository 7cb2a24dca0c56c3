"""Blacklist and credit (docs/DOMAIN.md §4): points per confirmed incident, automatic and manual
listings with expiry, appeals, the full history, and the company credit grade.

Points are booked by a trigger on ``incidents`` (migration 0007) when an officer confirms one,
once per incident (keyed on its id), and the same trigger lists the vehicle when its points in
the window reach the threshold. Active listings are the view ``blacklisted_vehicles``, which the
engine and the permit approval read.
"""
