"""Expressive speech presets and how each maps onto what a speech engine
can actually control.

A preset is a small set of multipliers and offsets applied on top of the
request's own rate, pitch and volume:

- Piper and VITS (the same architecture) take ``length_scale`` (slower when
  larger), ``noise_scale`` (liveliness of intonation) and ``noise_w`` (how
  much phoneme durations vary); pitch is shifted by resampling.
- eSpeak NG takes words per minute, pitch (0-100), pitch range (0-100),
  volume and a voice variant (its ``whisper`` variant is a real whisper).
- Models without these knobs get rate and pitch by DSP and the whisper by
  randomising the phase of the short-time spectrum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ESPEAK_DEFAULT_WPM = 175
ESPEAK_DEFAULT_PITCH = 50
ESPEAK_DEFAULT_RANGE = 50
ESPEAK_PITCH_PER_SEMITONE = 4.0  # eSpeak's 0-100 pitch scale is roughly linear in this range


@dataclass(frozen=True)
class Expression:
    rate: float = 1.0  # multiplies the request's rate
    pitch: float = 0.0  # semitones added to the request's pitch
    pitch_range: float = 1.0  # multiplies the intonation range
    volume: float = 1.0  # multiplies the request's volume
    noise_scale: float = 0.667  # Piper / VITS intonation variability
    noise_w: float = 0.8  # Piper / VITS duration variability
    espeak_variant: str = ""  # an eSpeak NG voice variant, e.g. "whisper"
    whisper: bool = False  # engines without a whisper voice get the DSP whisper

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Expression] = {
    "neutral": Expression(),
    "calm": Expression(rate=0.88, pitch=-1.0, pitch_range=0.6, volume=0.85, noise_scale=0.45, noise_w=0.5),
    "excited": Expression(rate=1.18, pitch=2.0, pitch_range=1.7, noise_scale=0.9, noise_w=1.0),
    "sad": Expression(rate=0.78, pitch=-2.5, pitch_range=0.35, volume=0.75, noise_scale=0.4, noise_w=0.45),
    "whisper": Expression(rate=0.95, pitch_range=0.8, volume=0.8, espeak_variant="whisper", whisper=True),
    "announcer": Expression(rate=0.92, pitch=-1.5, pitch_range=1.4, noise_scale=0.75, noise_w=0.6,
                            espeak_variant="announcer"),
}


def expression(preset: str) -> Expression:
    return PRESETS[preset]


def semitones_to_ratio(semitones: float) -> float:
    return float(2.0 ** (semitones / 12.0))


def espeak_settings(rate: float, pitch: float, preset: Expression) -> dict[str, int]:
    """eSpeak NG parameters for a request's rate and pitch under a preset."""
    def clamp(value: float, low: int, high: int) -> int:
        return int(round(min(max(value, low), high)))

    return {
        "rate_wpm": clamp(ESPEAK_DEFAULT_WPM * rate * preset.rate, 80, 500),
        "pitch": clamp(ESPEAK_DEFAULT_PITCH + ESPEAK_PITCH_PER_SEMITONE * (pitch + preset.pitch), 0, 100),
        "range": clamp(ESPEAK_DEFAULT_RANGE * preset.pitch_range, 0, 100),
    }
