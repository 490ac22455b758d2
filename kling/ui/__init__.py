"""Streamlit building blocks shared by the pages: services, sidebar, job panel, video card.

This is the only part of `kling` that imports Streamlit; it renders and reads widgets and
leaves every decision to the core.
"""
