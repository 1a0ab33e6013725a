"""Tests that keep the docs and the layout true."""
