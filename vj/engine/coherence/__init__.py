"""The coherence room: a steadier picture when stylising an input (similarity skip, feature bank, latent blend)."""
