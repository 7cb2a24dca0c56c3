"""Disposal-yard capacity: the ledger (one row per completed trip into a yard, plus audited
manual adjustments), fill and forecast, alerts at 80/95/100 %, and reconciliation.

The ledger is written by a trigger on ``trips`` (migration 0007) in the engine's own
transaction, keyed on the trip id, so a replaying engine books a trip once and needs no code
of its own. The running fill is a per-yard counter that a periodic fold adds the new rows to;
reads add the rows not folded yet, so they are exact at any moment.
"""
