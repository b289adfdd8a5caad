"""Evaluation: decode a manifest with a recognizer and score it with `susurrus.metrics`."""
