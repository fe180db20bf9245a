"""Control sources: they only write targets into the ParamStore."""
