"""Consortium registry, deadlines and the reminder send ledger (owned by the deadlines feature)."""
