"""Video assembly: clips into spots, spots into delivery formats (plain Python, PyAV)."""
