"""`CommandCounters`: what every transport counts of the commands it received (its status line, the tests).

A transport's own counters extend these with what only it has (OSC datagrams and bundles, MIDI
clock pulses and unmapped controls); the rejection keys are `vj.control.commands.reasons`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CommandCounters:
    messages: int = 0
    applied: int = 0  # store writes that landed
    commands: int = 0  # commands carried out (presets, switches, tempo, modulators)
    rejected: Counter[str] = field(default_factory=Counter)  # by reason

    def rejected_total(self) -> int:
        return sum(self.rejected.values())
