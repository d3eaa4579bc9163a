"""Tests of studio.qt.image."""
