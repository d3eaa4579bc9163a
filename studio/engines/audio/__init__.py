"""Audio engines: speech (:mod:`.speech`), music (:mod:`.music`) and sound
effects (:mod:`.sfx`), each run by its package's ``engine`` module, with
their requests in the light :mod:`.requests`.

Each engine is ``run(request, report, cancel) -> Artifact`` and returns WAV
or FLAC bytes (music can also return the MIDI file itself). While it works it
streams :class:`~studio.engines.audio.common.AudioChunk` previews: float32
arrays of shape ``(n,)`` or ``(n, channels)`` at the artifact's sample rate,
which also carry ``sample_rate`` and ``start``. ``Artifact.meta`` holds
``sample_rate`` and ``channels``. For music, :func:`.music.composer.compose`
gives the ``pretty_midi.PrettyMIDI`` of a request and
:func:`.music.composer.export_midi` writes it, so the MIDI of any past piece
can be exported from its recipe."""
