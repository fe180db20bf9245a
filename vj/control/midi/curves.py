"""Value maths of continuous controls (pure): response curves and the CC encodings of encoders / 14-bit."""

from __future__ import annotations

import math
from enum import StrEnum


class Curve(StrEnum):
    LINEAR = "linear"
    EXPONENTIAL = "exponential"  # fine control near min (zoom speed, noise)
    LOGARITHMIC = "logarithmic"  # fine control near max


class CcMode(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE_TWOS = "relative_twos"  # 1 = +1, 127 = -1 (two's complement)
    RELATIVE_OFFSET64 = "relative_offset64"  # 65 = +1, 63 = -1
    FOURTEEN_BIT = "14bit"  # MSB on CC n (0..31), LSB on CC n+32


def apply_curve(x: float, curve: Curve, amount: float = 4.0) -> float:
    """0..1 -> 0..1, monotonic; exponential and logarithmic are each other's inverse."""
    x = min(max(x, 0.0), 1.0)
    if curve is Curve.LINEAR or amount <= 0:
        return x
    scale = math.expm1(amount)
    if curve is Curve.EXPONENTIAL:
        return math.expm1(amount * x) / scale
    return math.log1p(scale * x) / amount


def invert_curve(y: float, curve: Curve, amount: float = 4.0) -> float:
    y = min(max(y, 0.0), 1.0)
    if curve is Curve.EXPONENTIAL:
        return apply_curve(y, Curve.LOGARITHMIC, amount)
    if curve is Curve.LOGARITHMIC:
        return apply_curve(y, Curve.EXPONENTIAL, amount)
    return y


def relative_ticks(value: int, mode: CcMode) -> int:
    """Detents moved by one relative-encoder message (accelerated encoders send bigger steps)."""
    if mode is CcMode.RELATIVE_TWOS:
        return value - 128 if value >= 64 else value
    if mode is CcMode.RELATIVE_OFFSET64:
        return value - 64
    raise ValueError(f"{mode} is not a relative mode")


def fourteen_bit(msb: int, lsb: int) -> float:
    return ((msb & 0x7F) << 7 | (lsb & 0x7F)) / 16383.0
