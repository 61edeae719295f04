"""Checklist data, the pure checklist engine and the pure deadline rules."""
