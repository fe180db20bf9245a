"""MIDI control: controllers drive parameters, prompt weights, LFOs and session actions.

- `targets`: what a control drives, parsed once from its text (`parse_target`, `Action`);
- `curves`: the value maths of continuous controls (response curves, relative and 14-bit CCs);
- `mapping_file`: the mapping TOML format, shipped profiles, load / save / validation;
- `mapper`: `MidiMapper`, applying a mapping to messages at run time (pickup, learn, actions);
- `ports`: mido inputs on one thread with hot-plug, and the `vj midi-learn` session.

Nothing is registered on import; the CLI wires a `MidiInput` to a `MidiMapper` explicitly.
"""
