"""Repairs: plans, their proofs, and carrying them out."""
