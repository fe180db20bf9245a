"""The warp room: how the previous frame moves into the next (2D, 3D camera, grid sampling, depth)."""
