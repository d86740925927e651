"""Rendering helpers every output shares: the message catalogue, templates, QR codes."""
