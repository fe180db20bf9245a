"""Outputs: each runs on its own thread behind a bounded queue and never stalls the show."""
