"""Widgets of the console and the plain models behind them (no network code here)."""
