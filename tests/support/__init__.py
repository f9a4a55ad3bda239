"""Helpers and fixtures shared by the unit and e2e halves of a split test file."""
