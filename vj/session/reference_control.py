"""The live show's reference-picture hooks: named pictures from its folder, a grab, an upload.

Each hook runs on the transport's thread: it checks the picture (a header read, no decoding)
and hands it to the engine's `ReferenceConditioner`, which decodes and encodes it on its own
thread; a refusal (no such name, not a picture, too large) is one line back to the sender.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from vj.engine.conditioning.reference_images import ReferenceConditioner
from vj.engine.conditioning.reference_pictures import file_reference, folder_file, keep_upload
from vj.snapshot import grab_event, reference_event

if TYPE_CHECKING:
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)

UPLOADS_FOLDER = "vj-uploads"  # in the current folder, beside the takes, when the show has no reference folder


class ReferenceControl:
    """The show's `ShowActions.reference*` hooks (built only when an IP-Adapter is loaded)."""

    def __init__(self, session: LiveSession, folder: str, upload_bytes: int, uploads: Path) -> None:
        self.session = session
        self.folder = folder
        self.upload_bytes = upload_bytes
        self.uploads = uploads  # where uploaded pictures are kept, so the take can name them

    def references(self) -> ReferenceConditioner:
        """The engine's reference pictures (a show built without an IP-Adapter has no hooks at all)."""
        found = self.session.engine.references
        if found is None:
            raise RuntimeError("the show's model has no IP-Adapter")
        return found

    def by_names(self, pairs: tuple[tuple[str, float], ...]) -> None:
        """Checked now (one line back to the sender); applied by the engine at the next frame boundary from a
        "reference" event, which the take's timeline records and a replay applies again."""
        self.references()  # refused at once without an IP-Adapter
        files = [folder_file(self.folder, name) for name, _ in pairs]
        self._set([(file, weight) for file, (_, weight) in zip(files, pairs, strict=True)])
        log.info("reference: %s", ", ".join(f"{n} ({w:g})" for n, w in pairs) or "off")

    def _set(self, pictures: list[tuple[Path, float]]) -> None:
        for file, weight in pictures:
            file_reference(str(file), weight)
        self.session.store.apply_event(reference_event([str(f) for f, _ in pictures], [w for _, w in pictures],
                                                       "control"))

    def grab(self, source: str) -> None:
        self.references()
        self.session.store.apply_event(grab_event(source, "control"))
        log.info("reference: grabbing the %s frame", source)

    def upload(self, data: bytes) -> None:
        """Kept as a file (the show's reference folder, else ./vj-uploads), then set through a "reference" event
        naming that file, like a name from the folder: the take records it and a replay sets it again."""
        self.references()
        kept = keep_upload(data, self.uploads, self.upload_bytes)
        self._set([(kept, 1.0)])
        log.info("reference: an uploaded picture (%d bytes), kept as %s", len(data), kept)


def reference_control(session: LiveSession) -> ReferenceControl | None:
    if session.engine.references is None:
        return None
    config = session.preset.reference
    uploads = Path(config.folder) if config.folder else Path(UPLOADS_FOLDER)
    return ReferenceControl(session, config.folder, int(config.max_upload_mb * 1_000_000), uploads)
