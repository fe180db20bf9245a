"""vj: real-time diffusion feedback VJ engine."""

__version__ = "0.1.0"
