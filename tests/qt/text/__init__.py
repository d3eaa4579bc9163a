"""Tests of studio.qt.text."""
