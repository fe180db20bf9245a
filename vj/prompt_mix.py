"""A prompt mix: weighted prompts plus one negative prompt, blended in embedding space by the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PromptEntry:
    text: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class PromptMix:
    """Weighted prompts plus one negative prompt, blended in embedding space by the engine."""

    entries: tuple[PromptEntry, ...] = ()
    negative: str = ""

    def with_entry(self, index: int, text: str | None = None, weight: float | None = None) -> PromptMix:
        entries = list(self.entries)
        while len(entries) <= index:
            entries.append(PromptEntry("", 0.0))
        old = entries[index]
        entries[index] = PromptEntry(old.text if text is None else text, old.weight if weight is None else weight)
        return PromptMix(tuple(entries), self.negative)

    def active(self) -> tuple[PromptEntry, ...]:
        """Entries that contribute: non-empty text and a positive weight."""
        return tuple(e for e in self.entries if e.text and e.weight > 0)


MAX_PROMPTS = 8
MAX_PROMPT_CHARS = 1000
MAX_PROMPT_WEIGHT = 10.0


def prompt_text_problem(text: str) -> tuple[str, str, str] | None:
    """(reason, what is expected, what was found) when `text` cannot be a prompt, else None.

    One rule for presets and live writes: too long, or not encodable (a lone surrogate such as
    "\\ud800", which JSON can carry but no tokenizer or file can) is refused when written, never
    failing frame after frame in the text encoder.
    """
    if len(text) > MAX_PROMPT_CHARS:
        return "oversized", f"at most {MAX_PROMPT_CHARS} characters", f"{len(text)} characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return "wrong_type", "valid Unicode text", f"{err.reason} at character {err.start}"
    return None


def mix_to_json(mix: PromptMix) -> dict[str, object]:
    return {"entries": [[e.text, e.weight] for e in mix.entries], "negative": mix.negative}


def mix_from_json(data: object) -> PromptMix:
    if not isinstance(data, Mapping):
        raise ValueError(f"prompt mix: expected an object, found {data!r}")
    entries = tuple(PromptEntry(str(text), float(weight)) for text, weight in data.get("entries", []))
    return PromptMix(entries, str(data.get("negative", "")))

