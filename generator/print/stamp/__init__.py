"""Stamped inserts: each shape laid out once by WeasyPrint, each parcel's fields drawn on it."""
