"""OSC control, split the way python-osc splits it:

- `parse`: datagram bytes -> messages (size, alignment, type-tag and bundle-nesting limits);
- `route`: address -> show command (vj.control.commands), collecting one datagram's writes and committing
  them as one store batch;
- `addresses`: the address table (`vj osc-map`, docs/reference/osc.md, OSCQuery);
- `server`: `OscControl`, the blocking UDP server thread, its counters and status line.

Address map (also `vj osc-map`, docs/reference/osc.md, docs/guide/live-control.md):

    /vj/<param> <number|int|string>   value in the parameter's own units (choices: name or index)
    /vj/norm/<param> <float 0..1>      mapped onto the parameter's range (also /vj/<param>/norm)
    /vj/prompt/<i>/text <string>       prompt text of slot i (0..7) (also /vj/prompt/<i>)
    /vj/prompt/<i>/weight <float>      blend weight of slot i
    /vj/negative <string>              negative prompt
    /vj/seed <int>                     base seed
    /vj/preset <name|int>              switch preset (applied at a frame boundary)
    /vj/release <param|prompt|all>     hand a parameter back to its schedule / preset value
    /vj/record <1|0>                   start / stop recording
    /vj/tap                            tap tempo
    /vj/bpm <float>                    set the tempo
    /vj/quantise <off|beat|bar|2bars|4bars>   where prompt / preset / seed changes land
    /vj/lfo/<param>/set <shape> <rate_beats> <depth> [offset]   attach an LFO ("off" removes it; also /vj/lfo/<param>)
    /vj/lfo/<param>/depth <float>, /vj/lfo/<param>/rate <float>
    /vj/audio/<param>/set <source> <depth> [attack_ms release_ms [curve]]   follow a band / level / onset ("off")
    /vj/audio/<param>/depth <float>, /vj/audio/onset <none|next_prompt|seed_step|zoom_punch>
    /vj/learn <param>                  MIDI-learn: the next control moved is mapped to <param>
"""

from vj.control.osc.addresses import PREFIX, OscAddress, address_map
from vj.control.osc.server import DEFAULT_HOST, DEFAULT_PORT, OscControl, OscCounters

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "PREFIX", "OscAddress", "OscControl", "OscCounters",
           "address_map"]
