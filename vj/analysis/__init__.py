"""Measurements of recorded videos: how steady a take is from frame to frame (`vj analyze`)."""
