"""Inputs: the only package that reads a brand project (files, YAML, validation, cache, secret)."""
