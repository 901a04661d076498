"""Deliberately broken plugins for the host tests."""
