"""Screens and dialogs of the console (docs/CONSOLE.md)."""
