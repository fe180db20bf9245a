"""Live input: a camera, a clip, a still image or an NDI source, read on its own thread.

Each source keeps only its newest picture in a latest-frame slot (stale frames are skipped,
never queued); the engine reads it through the `vj.frames.InputFrames` protocol and mixes
it into the init image by `video_mix`. A camera or NDI source that vanishes is reopened
without stopping the show. Offline, a clip is read in step with the render's frames, so a
render is exactly repeatable. This package imports nothing of `vj.engine`.
"""
