"""Outputs: virtual camera, preview window, recorder, control timeline. Each runs on its own thread."""
