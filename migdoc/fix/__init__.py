"""Repairs: plans (pure), their proofs, and carrying them out on disk, journalled and undoable."""
