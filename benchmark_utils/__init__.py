"""Shared code of the INNAprop benchmark (benchopt imports it by this name)."""
