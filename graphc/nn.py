"""Layers and losses (filled in below)."""
