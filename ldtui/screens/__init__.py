"""Screens and dialogs of the console (SPEC T-1…T-8)."""
