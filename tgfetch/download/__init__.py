"""Downloading: file naming, the download engine and its state."""
