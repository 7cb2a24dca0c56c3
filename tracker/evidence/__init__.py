"""Evidence that a court or the party can check: hash-chained case events and evidence packs."""
