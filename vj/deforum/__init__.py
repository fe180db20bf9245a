"""Deforum compatibility: settings files and Astria prompt files imported as presets, `vj convert`."""
