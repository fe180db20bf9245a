"""Audio reactivity: sound in (a device, a file), analysis into bands and onsets, modulators.

- `analysis`: block FFT into bands, level, onsets, a tempo estimate (numpy);
- `modulators`: parameters following a source through an envelope, onset actions;
- `files`: sound files decoded with PyAV; `inputs`: sounddevice or a file played live;
- `live`: the analysis thread of `vj run --audio-in`; `offline`: a track driving a render frame by frame.
"""
