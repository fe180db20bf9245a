"""The render side: owns the accelerator, turns parameter snapshots into frames.

Imports neither `vj.control` nor `vj.output` (tests/unit/project/test_import_graph.py checks it).
"""
