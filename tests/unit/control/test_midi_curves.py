"""MIDI value maths: response curves, relative encoders, 14-bit values."""

from __future__ import annotations

import math

import pytest

from vj.control.midi.curves import CcMode, Curve, apply_curve, fourteen_bit, invert_curve, relative_ticks


@pytest.mark.parametrize("curve", list(Curve))
def test_curves_are_monotonic_fixed_at_ends_and_invertible(curve: Curve) -> None:
    xs = [i / 100 for i in range(101)]
    ys = [apply_curve(x, curve, 4.0) for x in xs]
    assert ys[0] == pytest.approx(0.0) and ys[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(ys, ys[1:], strict=False))
    for x, y in zip(xs, ys, strict=False):
        assert invert_curve(y, curve, 4.0) == pytest.approx(x, abs=1e-9)


def test_curve_shapes() -> None:
    assert apply_curve(0.5, Curve.LINEAR) == 0.5
    assert apply_curve(0.5, Curve.EXPONENTIAL, 4.0) == pytest.approx(math.expm1(2.0) / math.expm1(4.0))
    assert apply_curve(0.5, Curve.EXPONENTIAL) < 0.5 < apply_curve(0.5, Curve.LOGARITHMIC)


def test_relative_encodings() -> None:
    assert [relative_ticks(v, CcMode.RELATIVE_TWOS) for v in (1, 3, 127, 125, 64)] == [1, 3, -1, -3, -64]
    assert [relative_ticks(v, CcMode.RELATIVE_OFFSET64) for v in (65, 67, 63, 61, 64)] == [1, 3, -1, -3, 0]


def test_fourteen_bit_value() -> None:
    assert fourteen_bit(0, 0) == 0.0
    assert fourteen_bit(127, 127) == 1.0
    assert fourteen_bit(64, 0) == pytest.approx(8192 / 16383)
