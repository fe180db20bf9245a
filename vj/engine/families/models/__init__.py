"""Tiny random models built from config: the same code path as real weights, for tests and the offline demo."""
