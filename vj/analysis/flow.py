"""Dense optical flow between two pictures, and the earlier picture warped onto the later one (OpenCV)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vj.errors import VjError
from vj.input.video import INSTALL_HINT

FLOW_METHODS = ("dis", "farneback")


def cv2_for_analysis() -> Any:
    """OpenCV, or one line saying which extra brings it."""
    try:
        import cv2
    except ImportError as err:
        raise VjError(f"vj analyze needs OpenCV for optical flow, which cannot be imported ({err}): "
                      f"{INSTALL_HINT}") from None
    return cv2


class FlowWarp:
    """Estimates where each pixel of the current frame came from in the previous one and warps it there.

    DIS (OpenCV's dense inverse search, medium preset) follows large motion quickly; Farnebäck is the
    classic polynomial-expansion method, slower, smoother on small motion.
    """

    def __init__(self, method: str = "dis") -> None:
        if method not in FLOW_METHODS:
            raise VjError(f"flow method {method!r}: expected one of {', '.join(FLOW_METHODS)}")
        self.method = method
        self._cv2 = cv2_for_analysis()
        self._dis = (self._cv2.DISOpticalFlow_create(self._cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
                     if method == "dis" else None)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def gray(self, rgb: np.ndarray) -> np.ndarray:
        return np.asarray(self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2GRAY))

    def flow(self, previous_gray: np.ndarray, current_gray: np.ndarray) -> np.ndarray:
        """HxWx2 float32 (dx, dy): current(p) shows what previous(p + flow(p)) showed."""
        if self._dis is not None:
            return np.asarray(self._dis.calc(current_gray, previous_gray, None))
        return np.asarray(self._cv2.calcOpticalFlowFarneback(current_gray, previous_gray, None, pyr_scale=0.5,
                                                              levels=4, winsize=15, iterations=3, poly_n=5,
                                                              poly_sigma=1.2, flags=0))

    def warp(self, previous_rgb: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`previous_rgb` moved onto the current frame by `flow`, and the mask of pixels whose source lies inside
        the previous frame (what entered at a border has nothing to be compared with)."""
        height, width = flow.shape[:2]
        if self._grid is None or self._grid[0].shape != (height, width):
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            self._grid = (xs, ys)
        xs, ys = self._grid
        map_x = xs + flow[..., 0]
        map_y = ys + flow[..., 1]
        warped = self._cv2.remap(previous_rgb, map_x, map_y, interpolation=self._cv2.INTER_LINEAR,
                                 borderMode=self._cv2.BORDER_REPLICATE)
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        return np.asarray(warped), inside
