"""Formatters: one module per format, each a function from results to text."""
