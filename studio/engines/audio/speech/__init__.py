"""Text to speech: the streaming engine (:mod:`.engine`) and its backends
(eSpeak NG, Piper voices, transformers speech models) with their presets and
effects."""
