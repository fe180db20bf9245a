"""The show's commands: one transport-neutral set, validated once, with one set of rejection reasons.

- `catalogue`: the list of commands (`Command`) and which transport leaves which out, and why;
- `actions`: `ShowActions`, the session's hooks the commands reach;
- `values`: the value checks (the preset parser's rules);
- `show` / `modulation`: `ShowCommands`, which validates and carries out each command;
- `reasons`: the rejection reasons every counter and log line uses.

OSC (vj.control.osc.route), the web page (vj.web.protocol), MIDI (vj.control.midi.mapper) and the
preview keys (vj.output.preview) are adapters: each decodes its input and calls `ShowCommands`.
"""

from vj.control.commands.actions import ShowActions
from vj.control.commands.catalogue import NOT_OFFERED, Command
from vj.control.commands.reasons import Rejected, Rejection
from vj.control.commands.show import ShowCommands, at_once

__all__ = ["NOT_OFFERED", "Command", "Rejected", "Rejection", "ShowActions", "ShowCommands", "at_once"]
