"""Tests of the site agent."""
