"""Sound effects: the engine (:mod:`.engine`), procedural foley presets and
their DSP, and diffusion audio models (:mod:`.diffusion`)."""
