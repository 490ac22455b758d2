"""Tests of `kling.templates`, one module per module of the package."""
