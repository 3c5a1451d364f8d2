"""Tests of superres.cluster."""
