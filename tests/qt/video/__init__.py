"""Tests of studio.qt.video."""
