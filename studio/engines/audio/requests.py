"""The requests of the audio engines: speech, music and sound effects.

This module is light (dataclasses and constants only) so the window, the
queue and the CLI can import it without pulling in torch or any synthesiser.
Every field is JSON-friendly because a request is the recipe embedded in the
file it produces; ``validate`` refuses bad values with a one-line message.

How ``model_id`` picks the engine behind each kind:

- speech: ``""`` is the Piper starter voice when installed (else eSpeak NG);
  ``"espeak-ng"`` is eSpeak NG; a Piper ``.onnx`` voice card is Piper; a
  transformers card (VITS/MMS, SpeechT5, Bark) is that model.
- music: ``""`` is the composer rendered with the General MIDI starter
  SoundFont; a SoundFont card renders the composer with that SoundFont; a
  MusicGen transformers card generates audio from ``prompt``.
- sfx: ``""`` is the procedural foley of ``preset``; a diffusers audio
  pipeline card (AudioLDM, AudioLDM 2, Stable Audio) generates from ``prompt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.core.jobs import Request, StudioError

ESPEAK_MODEL_ID = "espeak-ng"
PIPER_STARTER_ID = "piper-en-us-joe-medium"
SOUNDFONT_STARTER_ID = "timgm6mb-soundfont"

AUDIO_FORMATS = ("wav", "flac")
MUSIC_FORMATS = (*AUDIO_FORMATS, "mid")
SPEECH_PRESETS = ("neutral", "calm", "excited", "sad", "whisper", "announcer")
MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian", "harmonic-minor")
KEYS = ("C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B")
TIME_SIGNATURES = ("2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "12/8")
# The tracks each music style writes: the names ``muted_tracks`` and ``solo_tracks`` use.
STYLE_TRACKS = {
    "pop": ("melody", "chords", "bass", "drums"),
    "ambient": ("melody", "pad", "bass"),
    "orchestral": ("melody", "strings", "bass", "timpani"),
    "lofi": ("melody", "chords", "bass", "drums"),
    "rock": ("melody", "chords", "bass", "drums"),
    "chiptune": ("melody", "chords", "bass", "drums"),
}
MUSIC_STYLES = tuple(STYLE_TRACKS)
SFX_PRESETS = (
    "rain", "wind", "fire", "footsteps", "door", "explosion", "whoosh", "ui-click", "ui-confirm",
    "ui-error", "laser", "engine-hum", "ambience-forest", "ambience-city", "ambience-room",
    "ambience-ocean", "tone",
)
SURFACES = ("concrete", "wood", "gravel", "grass", "snow", "metal")
MAX_TEXT_CHARS = 100_000
MAX_DURATION_S = 600.0


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise StudioError(f"{name} must be between {low:g} and {high:g}, not {value:g}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise StudioError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


@dataclass(frozen=True)
class SpeechRequest(Request):
    """Text to speech. ``voice`` is an eSpeak NG voice or language (``en-us``,
    ``fr``, ``English (Scotland)``) or the speaker of a multi-speaker model;
    ``language`` picks an eSpeak voice by language when ``voice`` is empty."""

    kind = "speech"
    modality = "audio"
    prompt: str = ""  # the words to speak
    voice: str = ""
    language: str = ""
    rate: float = 1.0  # speaking rate, 1 = the voice's own
    pitch: float = 0.0  # semitones up (+) or down (-)
    volume: float = 1.0
    sentence_pause_s: float = 0.25  # silence added after each sentence
    preset: str = "neutral"  # expressive preset, see SPEECH_PRESETS
    format: str = "wav"
    reference_audio: str = ""  # a clip of the voice to clone (models that support it)
    consent_to_clone: bool = False  # the speaker in reference_audio agreed to be cloned

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "the voice model, by id, or espeak-ng (empty: the Piper starter voice, else eSpeak NG)",
        "prompt": "the words to speak",
        "voice": "eSpeak NG voice or language (en-us, fr, 'English (Scotland)') or a model's speaker",
        "language": "with no --voice: pick an eSpeak NG voice by language (e.g. de)",
        "rate": "speaking rate (0.25-4; 1: the voice's own)",
        "pitch": "pitch shift in semitones (-12 to 12)",
        "volume": "loudness (0-2; 1: unchanged)",
        "sentence_pause_s": "seconds of silence after each sentence (0-5)",
        "preset": "expressive preset",
        "format": "audio file format",
        "reference_audio": "a clip of the voice to clone (models that support it; needs --consent-to-clone)",
        "consent_to_clone": "confirm the person in --reference-audio agreed to have their voice cloned",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"preset": SPEECH_PRESETS, "format": AUDIO_FORMATS}

    def validate(self) -> None:
        if not self.prompt.strip():
            raise StudioError("there is no text to speak")
        if len(self.prompt) > MAX_TEXT_CHARS:
            raise StudioError(f"the text is too long ({len(self.prompt)} characters; at most {MAX_TEXT_CHARS})")
        _check_range("rate", self.rate, 0.25, 4.0)
        _check_range("pitch", self.pitch, -12.0, 12.0)
        _check_range("volume", self.volume, 0.0, 2.0)
        _check_range("sentence pause", self.sentence_pause_s, 0.0, 5.0)
        _check_choice("preset", self.preset, SPEECH_PRESETS)
        _check_choice("format", self.format, AUDIO_FORMATS)
        if self.reference_audio and not self.consent_to_clone:
            raise StudioError(
                "cloning a voice needs the speaker's consent: tick the consent box"
                " (--consent-to-clone) only if the person in the clip agreed")


@dataclass(frozen=True)
class MusicRequest(Request):
    """A piece of music. The composer uses key, mode, tempo, time signature,
    bars and style; MusicGen uses ``prompt`` and ``duration_s``.

    ``duration_s`` of 0 means "as long as ``bars``"; above 0 the composer
    writes enough bars and the audio is cut to exactly that length.
    ``variation_of`` is the seed of an earlier piece (-1: none): the new piece
    keeps its structure and ``seed`` changes about ``variation_amount`` of it.
    ``muted_tracks`` / ``solo_tracks`` name tracks (melody, chords, bass,
    drums, ...) left out of / alone in the mix."""

    kind = "music"
    modality = "audio"
    prompt: str = ""
    style: str = "pop"
    key: str = "C"
    mode: str = "major"
    tempo: float = 110.0  # quarter notes per minute
    time_signature: str = "4/4"
    bars: int = 8
    duration_s: float = 0.0
    variation_of: int = -1
    variation_amount: float = 0.3
    muted_tracks: tuple[str, ...] = ()
    solo_tracks: tuple[str, ...] = ()
    format: str = "wav"  # wav, flac, or mid (the MIDI file itself)

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "a SoundFont or MusicGen model, by id (empty: the composer with the starter SoundFont)",
        "prompt": "MusicGen: what the music should sound like; the composer: a label",
        "style": "composer style (sets the instruments and tracks)",
        "key": "composer: the key",
        "mode": "composer: the scale",
        "tempo": "quarter notes per minute (30-300)",
        "time_signature": "composer: beats per bar",
        "bars": "composer: length in bars (1-512)",
        "duration_s": f"length in seconds, cut exactly (0: as long as --bars; at most {MAX_DURATION_S:g})",
        "variation_of": "the seed of an earlier piece to vary (-1: none); --seed changes part of it",
        "variation_amount": "with --variation-of: how much of the piece changes (0-1)",
        "muted_tracks": "leave a track out of the mix; tracks by style: "
                        + "; ".join(f"{style}: {', '.join(tracks)}" for style, tracks in STYLE_TRACKS.items()),
        "solo_tracks": "play only this track (and other soloed ones); same track names as --muted-track",
        "format": "audio file format (mid: the MIDI file itself)",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"style": MUSIC_STYLES, "key": KEYS, "mode": MODES, "time_signature": TIME_SIGNATURES,
               "format": MUSIC_FORMATS}

    def describe(self) -> str:
        return self.prompt or f"{self.style} in {self.key} {self.mode}"

    def validate(self) -> None:
        _check_choice("style", self.style, MUSIC_STYLES)
        _check_choice("key", self.key, KEYS)
        _check_choice("mode", self.mode, MODES)
        _check_choice("time signature", self.time_signature, TIME_SIGNATURES)
        _check_choice("format", self.format, MUSIC_FORMATS)
        _check_range("tempo", self.tempo, 30.0, 300.0)
        _check_range("bars", self.bars, 1, 512)
        _check_range("duration", self.duration_s, 0.0, MAX_DURATION_S)
        _check_range("variation amount", self.variation_amount, 0.0, 1.0)
        numerator, denominator = (int(part) for part in self.time_signature.split("/"))
        seconds = self.bars * numerator * 4 / denominator * 60.0 / self.tempo
        if self.duration_s <= 0 and seconds > MAX_DURATION_S:
            raise StudioError(f"{self.bars} bars at {self.tempo:g} BPM last {seconds / 60:.0f} minutes;"
                              f" at most {MAX_DURATION_S / 60:.0f} minutes")
        if self.variation_of < -1:
            raise StudioError("variation of must be the seed of an earlier piece, or -1 for none")
        tracks = STYLE_TRACKS[self.style]
        for name in (*self.muted_tracks, *self.solo_tracks):
            if name not in tracks:
                raise StudioError(f"{self.style} has no track {name!r}; its tracks are {', '.join(tracks)}")
        if set(tracks) <= set(self.muted_tracks) or (set(self.solo_tracks) and
                                                     set(self.solo_tracks) <= set(self.muted_tracks)):
            raise StudioError("every track is muted; unmute at least one")


@dataclass(frozen=True)
class SfxRequest(Request):
    """A sound effect. Procedural presets use the parameters below (each in
    0..1 unless said otherwise); a diffusion model uses ``prompt`` and
    ``steps``."""

    kind = "sfx"
    modality = "audio"
    prompt: str = ""
    preset: str = "rain"
    duration_s: float = 3.0
    intensity: float = 0.5  # how strong / dense: light drizzle .. downpour
    brightness: float = 0.5  # spectral tilt: dull .. bright
    pace: float = 0.5  # speed of events: footsteps per second, flicker, sweep speed
    distance: float = 0.2  # near and dry .. far and reverberant
    surface: str = "concrete"  # footsteps only
    frequency_hz: float = 440.0  # tone, laser start, engine fundamental
    stereo: bool = True
    steps: int = 25  # diffusion models only
    format: str = "wav"

    HELP: ClassVar[dict[str, str]] = {
        "model_id": "an AudioLDM / Stable Audio model, by id (empty: procedural foley of --preset)",
        "prompt": "with a model: the sound to generate; without: a label",
        "preset": "procedural sound (without --model)",
        "duration_s": f"length in seconds (0.05-{MAX_DURATION_S:g})",
        "intensity": "how strong or dense (0-1): light drizzle .. downpour",
        "brightness": "spectral tilt (0-1): dull .. bright",
        "pace": "speed of events (0-1): footsteps per second, flicker, sweep speed",
        "distance": "near and dry .. far and reverberant (0-1)",
        "surface": "footsteps: what is walked on",
        "frequency_hz": "tone, laser start and engine fundamental in Hz (20-20000)",
        "stereo": "stereo rather than mono",
        "steps": "with a model: diffusion steps (1-500)",
        "format": "audio file format",
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"preset": SFX_PRESETS, "surface": SURFACES, "format": AUDIO_FORMATS}

    def describe(self) -> str:
        return self.prompt or self.preset

    def validate(self) -> None:
        if not self.model_id:
            _check_choice("preset", self.preset, SFX_PRESETS)
        elif not self.prompt.strip():
            raise StudioError("describe the sound to generate: the prompt is empty")
        _check_range("duration", self.duration_s, 0.05, MAX_DURATION_S)
        for name in ("intensity", "brightness", "pace", "distance"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        _check_choice("surface", self.surface, SURFACES)
        _check_range("frequency", self.frequency_hz, 20.0, 20_000.0)
        _check_range("steps", self.steps, 1, 500)
        _check_choice("format", self.format, AUDIO_FORMATS)
