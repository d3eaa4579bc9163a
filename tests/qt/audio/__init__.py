"""Tests of studio.qt.audio."""
