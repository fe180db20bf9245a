"""The live show's reference-picture hooks: named pictures from its folder, a grab, an upload.

Each hook runs on the transport's thread: it checks the picture (a header read, no decoding)
and hands it to the engine's `ReferenceConditioner`, which decodes and encodes it on its own
thread; a refusal (no such name, not a picture, too large) is one line back to the sender.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vj.engine.conditioning.reference_images import ReferenceConditioner
from vj.engine.conditioning.reference_pictures import folder_reference, upload_reference

if TYPE_CHECKING:
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)


class ReferenceControl:
    """The show's `ShowActions.reference*` hooks (built only when an IP-Adapter is loaded)."""

    def __init__(self, session: LiveSession, folder: str, upload_bytes: int) -> None:
        self.session = session
        self.folder = folder
        self.upload_bytes = upload_bytes

    @property
    def references(self) -> ReferenceConditioner:
        found = self.session.engine.references
        if found is None:
            raise RuntimeError("the show's model has no IP-Adapter")
        return found

    def by_names(self, pairs: tuple[tuple[str, float], ...]) -> None:
        refs = [folder_reference(self.folder, name, weight) for name, weight in pairs]
        self.references.set(refs)
        log.info("reference: %s", ", ".join(f"{n} ({w:g})" for n, w in pairs) or "off")

    def grab(self, source: str) -> None:
        self.references.request_grab(source)
        log.info("reference: grabbing the %s frame", source)

    def upload(self, data: bytes) -> None:
        self.references.set([upload_reference(data, self.upload_bytes)])
        log.info("reference: an uploaded picture (%d bytes)", len(data))


def reference_control(session: LiveSession) -> ReferenceControl | None:
    if session.engine.references is None:
        return None
    config = session.preset.reference
    return ReferenceControl(session, config.folder, int(config.max_upload_mb * 1_000_000))
