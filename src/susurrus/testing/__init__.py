"""Test dummies shipped with the package (as `lhotse.testing.dummies`): tiny random models and a
fake recognizer, for susurrus's own tests and for users testing code built on it."""
