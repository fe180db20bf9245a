"""Control sources: they only write targets into the ParamStore.

`commands` is the one transport-neutral set of show commands; `osc`, `midi`, the web page
(vj.web) and the preview keys (vj.output.preview) are adapters that turn their input into
those commands; `tempo`, `modulators` and `audio` are what the commands drive.
"""
