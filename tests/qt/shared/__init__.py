"""Tests of studio.qt.shared."""
