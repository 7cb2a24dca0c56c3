"""Staff accounts, API tokens, roles and the audit log."""
