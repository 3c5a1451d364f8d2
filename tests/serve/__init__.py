"""Tests of superres.serve: the API over loopback HTTP, its fuzzing, the web page in Chromium."""
