"""Music: the engine (:mod:`.engine`), the composer that writes multi-track
MIDI (:mod:`.composer`, :mod:`.parts`, :mod:`.theory`, :mod:`.styles`), the
SoundFont renderer (:mod:`.render`) and MusicGen (:mod:`.musicgen`)."""
