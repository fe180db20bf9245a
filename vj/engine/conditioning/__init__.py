"""The conditioning room: prompt embeddings and their blends and fades, seeds and noise morphs, guidance."""
