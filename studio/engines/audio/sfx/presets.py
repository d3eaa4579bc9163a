"""The procedural foley presets. Each is a function of the request's
parameters (intensity, brightness, pace, surface, frequency) that returns a
mono ``(n,)`` or stereo ``(n, 2)`` float buffer; :mod:`studio.engines.audio.sfx.engine`
adds tilt, distance, stereo and level afterwards.

The recipes follow how the real sounds are made: rain is a hiss bed plus
thousands of droplet transients; wind is noise through a band that wanders
with the gusts; fire is rumble, hiss and heavy-tailed crackles; footsteps
are heel and toe transients shaped by the surface; and so on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from studio.engines.audio.requests import SfxRequest
from studio.engines.audio.sfx import dsp

Rng = np.random.Generator


@dataclass(frozen=True)
class Preset:
    make: Callable[[SfxRequest, int, int, Rng], np.ndarray]
    level: float  # peak level relative to full scale
    tonal: bool = False  # brightness tilt would change what was asked for


def rain(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    bed = dsp.band(dsp.coloured(n, rate, rng, 1.0), rate, 400, 9000) * (0.01 + 0.35 * req.intensity ** 2)
    channels = []
    for _ in range(2):
        drops_per_s = 40 + 2500 * req.intensity ** 1.5
        drops = np.zeros(n)
        for _size in range(6):  # drops of several sizes ring at several pitches, so no single tone stands out
            at = dsp.poisson_times(duration, drops_per_s / 6, rng)
            kernel = dsp.overlay(dsp.damped_sine(rate, rng.uniform(1500, 6500), rng.uniform(0.003, 0.01)),
                                 0.3 * dsp.noise_burst(rate, 0.004, rng, 1500))
            drops += dsp.place(n, rate, at, rng.pareto(3.0, len(at)) * 0.3, kernel)
        channels.append(bed * (0.8 + 0.2 * rng.random()) + drops)
    return np.stack(channels, axis=1)


def wind(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    bands = dsp.band_bank(n, rate, rng, [60, 120, 250, 500, 900, 1500, 2500, 4000], slope=1.5)
    gusts = dsp.smooth_random(n, rate, rng, 0.2 + 1.5 * req.pace)
    position = 0.5 + gusts * (2.0 + 4.0 * req.intensity)
    howl = dsp.moving_band(bands, position, width=0.7 + 0.6 * (1 - req.intensity))
    return howl * (0.3 + 0.7 * gusts)


def fire(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    flicker = dsp.smooth_random(n, rate, rng, 2 + 6 * req.pace, 0.5, 1.0)
    rumble = dsp.band(dsp.coloured(n, rate, rng, 2.0), rate, 0, 250) * flicker * (0.6 + 0.6 * req.intensity)
    hiss = dsp.band(dsp.white(n, rng), rate, 2000, 9000) * dsp.smooth_random(n, rate, rng, 4, 0.05, 0.2)
    at = dsp.poisson_times(duration, 5 + 60 * req.intensity, rng)
    crackles = dsp.place(n, rate, at, rng.pareto(1.8, len(at)) * 0.5, dsp.noise_burst(rate, 0.012, rng, 800))
    pop_at = dsp.poisson_times(duration, 0.5 + 2 * req.intensity, rng)  # resin pockets bursting
    pops = dsp.place(n, rate, pop_at, rng.uniform(0.5, 1.0, len(pop_at)), dsp.noise_burst(rate, 0.03, rng, 300))
    return rumble * 0.5 + hiss * 0.3 + crackles + pops


_SURFACES = {
    # surface: (transient length s, band low Hz, band high Hz, grains, ring Hz or 0)
    "concrete": (0.05, 150, 6000, 0, 0),
    "wood": (0.09, 80, 3000, 0, 220),
    "gravel": (0.16, 800, 8000, 40, 0),
    "grass": (0.14, 300, 4000, 25, 0),
    "snow": (0.18, 250, 3000, 35, 0),
    "metal": (0.35, 300, 7000, 0, 1650),
}


def _step_sound(surface: str, rate: int, rng: Rng, weight: float) -> np.ndarray:
    length, low, high, grains, ring = _SURFACES[surface]
    n = int(length * rate)
    layers = [dsp.damped_sine(rate, 70 + 30 * rng.random(), length * 0.6) * weight]  # the body's thud
    if grains:  # gravel, grass, snow: many small grains over the contact
        at = rng.random(grains) * length * 0.7
        layers.append(dsp.place(n, rate, at, rng.random(grains) * 0.5, dsp.noise_burst(rate, 0.006, rng, low, high)))
    else:
        layers.append(dsp.noise_burst(rate, length * 0.3, rng, low, high) * 0.8)
    if ring:  # wood resonates low, metal rings with inharmonic partials
        for ratio, amp in ((1.0, 0.6), (2.76, 0.3), (5.4, 0.15)):
            layers.append(dsp.damped_sine(rate, ring * ratio * (0.97 + 0.06 * rng.random()), length) * amp)
    return dsp.overlay(*layers)[:n]


def footsteps(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    interval = 1.0 / (0.8 + 2.4 * req.pace)
    starts = np.arange(0.05, duration - 0.1, interval) + rng.normal(0, interval * 0.04, 1)[0]
    left, right = np.zeros(n), np.zeros(n)
    for index, start in enumerate(starts):
        start += rng.normal(0, interval * 0.03)
        heel = _step_sound(req.surface, rate, rng, 1.0) * (0.6 + 0.4 * req.intensity)
        toe = _step_sound(req.surface, rate, rng, 0.4) * 0.5
        for offset, sound in ((0.0, heel), (0.045 + 0.02 * rng.random(), toe)):
            position = int((start + offset) * rate)
            if 0 <= position < n:
                end = min(n, position + len(sound))
                side = 0.6 if index % 2 else 0.4  # alternate feet, slightly off centre
                left[position:end] += sound[:end - position] * (1 - side)
                right[position:end] += sound[:end - position] * side
    return np.stack([left, right], axis=1)


def door(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    creak_s = min(duration * 0.7, 0.4 + 1.6 * (1 - req.pace))
    creak_n = int(creak_s * rate)
    # Stick-slip friction: a pulse train whose rate wanders, through the door's wooden resonances.
    pulse_rate = 30 + 60 * dsp.smooth_random(creak_n, rate, rng, 6)
    phase = np.cumsum(pulse_rate) / rate
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float) * (0.5 + rng.random(creak_n))
    creak = dsp.band(pulses, rate, 300, 2500) * np.sin(np.linspace(0, np.pi, creak_n)) * 2.0
    out = np.zeros(n)
    out[:creak_n] += creak * (0.3 + 0.7 * req.intensity)
    slam_at = int(min(creak_s + 0.05, duration - 0.3) * rate)
    slam = dsp.overlay(dsp.damped_sine(rate, 75, 0.5) * 1.2, dsp.noise_burst(rate, 0.08, rng, 100, 4000))
    latch = dsp.damped_sine(rate, 2200, 0.05) * 0.5
    for sound, at in ((slam * (0.5 + 0.5 * req.intensity), slam_at), (latch, slam_at + int(0.03 * rate))):
        end = min(n, at + len(sound))
        out[at:end] += sound[:end - at]
    return out


def explosion(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    length = 1.0 + 2.5 * req.intensity
    t = dsp.times(n, rate)
    body_noise = dsp.coloured(n, rate, rng, 1.5)
    sweep = dsp.band_bank(n, rate, rng, [30, 80, 200, 500, 1200, 3000, 8000], slope=1.0)
    position = 5.0 * np.exp(-t / (0.15 + 0.3 * req.brightness))  # starts bright, darkens fast
    body = (dsp.moving_band(sweep, position, 1.2) * 0.8 + body_noise * 0.2) * dsp.decay(n, rate, length)
    boom = np.sin(2 * np.pi * np.cumsum(55 * np.exp(-t * 2) + 30) / rate) * dsp.decay(n, rate, length * 0.7)
    crack = np.zeros(n)
    burst = dsp.noise_burst(rate, 0.03, rng)
    crack[:len(burst)] = burst * 2.0
    debris_at = dsp.poisson_times(min(length, n / rate), 20 * req.intensity, rng)
    debris = dsp.place(n, rate, debris_at, rng.random(len(debris_at)) * 0.3 * np.exp(-debris_at / length),
                       dsp.noise_burst(rate, 0.02, rng, 1000))
    return body + boom * (0.8 + 0.6 * req.intensity) + crack + debris


def whoosh(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    bands = dsp.band_bank(n, rate, rng, [150, 300, 600, 1200, 2400, 4800, 9600], slope=0.8)
    t = np.linspace(0.0, 1.0, n)
    speed = 0.2 + 0.6 * req.pace  # share of the clip the pass takes
    centre = 0.5
    shape = np.exp(-0.5 * ((t - centre) / (speed / 3)) ** 2)
    position = 1.0 + shape * (2.0 + 3.0 * req.intensity)
    mono = dsp.moving_band(bands, position, 0.9) * shape
    return dsp.pan(mono, np.clip((t - centre) / speed * 2, -1, 1))


def _tone_blip(rate: int, freq: float, seconds: float, harmonics: tuple[float, ...] = (1.0, 0.3)) -> np.ndarray:
    out = sum(amp * dsp.damped_sine(rate, freq * (k + 1), seconds) for k, amp in enumerate(harmonics))
    attack = min(len(out), int(0.003 * rate))
    out[:attack] *= np.linspace(0, 1, attack)
    return out


def _sequence(n: int, rate: int, sounds: list[tuple[float, np.ndarray]]) -> np.ndarray:
    out = np.zeros(n)
    for at_s, sound in sounds:
        at = int(at_s * rate)
        end = min(n, at + len(sound))
        if at < n:
            out[at:end] += sound[:end - at]
    return out


def ui_click(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    click = _tone_blip(rate, 1800 + 2400 * req.brightness, 0.012, (1.0,))
    tick = dsp.noise_burst(rate, 0.004, rng, 2000)
    return _sequence(n, rate, [(0.005, dsp.overlay(click, tick * 0.4))])


def ui_confirm(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    base = req.frequency_hz * 2
    step = 0.06 + 0.08 * (1 - req.pace)
    return _sequence(n, rate, [(0.005, _tone_blip(rate, base, 0.25)),
                               (0.005 + step, _tone_blip(rate, base * 1.5, 0.4))])


def ui_error(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    base = req.frequency_hz * 0.5
    step = 0.12 + 0.08 * (1 - req.pace)
    buzz = (1.0, 0.0, 0.33, 0.0, 0.2)  # odd harmonics: a soft square
    return _sequence(n, rate, [(0.005, _tone_blip(rate, base, 0.2, buzz)),
                               (0.005 + step, _tone_blip(rate, base * 0.75, 0.3, buzz))])


def laser(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    shot_s = 0.15 + 0.35 * (1 - req.pace)
    shots = 1 + int(round(req.intensity * 4))
    gap = max(shot_s * 1.2, (n / rate) / shots)
    sounds = []
    for index in range(shots):
        zap = dsp.chirp(rate, shot_s, req.frequency_hz * 4, req.frequency_hz / 2, curve=0.5)
        zap = np.sign(zap) * np.abs(zap) ** 0.5  # a little square-ish edge
        sounds.append((index * gap, zap * dsp.decay(len(zap), rate, shot_s * 1.5)))
    return _sequence(n, rate, sounds)


def engine_hum(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    firing_hz = 20 + 100 * req.pace  # firings per second: pace is the throttle
    wobble = dsp.smooth_random(n, rate, rng, 0.5, 0.97, 1.03)
    phase = 2 * np.pi * np.cumsum(firing_hz * wobble) / rate
    roughness = 1 + 0.3 * req.intensity * dsp.smooth_random(n, rate, rng, firing_hz, -1, 1)
    harmonics = sum(np.sin(k * phase) / k ** (1.5 - req.brightness) for k in range(1, 12))
    rumble = dsp.band(dsp.coloured(n, rate, rng, 2.0), rate, 0, 400) * 0.3
    return harmonics * roughness + rumble


def ambience_forest(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    rustle = dsp.smooth_random(n, rate, rng, 0.3, 0.05, 0.2)
    leaves = dsp.band(dsp.coloured(n, rate, rng, 1.0), rate, 500, 6000) * rustle
    bed = np.stack([leaves, np.roll(leaves, rate // 7)], axis=1)
    for at in dsp.poisson_times(duration, 0.3 + 3 * req.intensity, rng):
        notes = int(rng.integers(2, 7))
        high = 2500 + 3000 * rng.random()
        call = np.concatenate([dsp.chirp(rate, 0.07, high, high * (0.7 + 0.5 * rng.random())) *
                               np.hanning(int(0.07 * rate)) for _ in range(notes)])
        position = int(at * rate)
        end = min(n, position + len(call))
        bed[position:end] += dsp.pan(call[:end - position] * 0.25, rng.uniform(-0.8, 0.8))
    return bed


def ambience_city(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    traffic = dsp.band(dsp.coloured(n, rate, rng, 1.8), rate, 40, 2000)
    swell = dsp.smooth_random(n, rate, rng, 0.4, 0.4, 1.0)
    bed = dsp.pan(traffic * swell, 0.0) + dsp.pan(dsp.band(dsp.white(n, rng), rate, 1500, 6000) * 0.03, 0.3)
    t = dsp.times(n, rate)
    for at in dsp.poisson_times(duration, 0.1 + 0.4 * req.intensity, rng):  # passing cars
        shape = np.exp(-0.5 * ((t - at) / 1.2) ** 2)
        car = dsp.band(dsp.coloured(n, rate, rng, 1.0), rate, 200, 3000) * shape * 0.8
        bed += dsp.pan(car, np.clip((t - at) / 1.5, -1, 1) * rng.choice([-1, 1]))
    if rng.random() < 0.3 + 0.5 * req.intensity:  # a distant horn
        at = rng.random() * max(duration - 0.6, 0.01)
        horn = dsp.overlay(_tone_blip(rate, 400, 0.6, (1.0, 0.5, 0.3)), _tone_blip(rate, 500, 0.6, (1.0, 0.5, 0.3)))
        bed[:, 0] += _sequence(n, rate, [(at, horn * 0.15)])
    return bed


def ambience_room(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    air = dsp.band(dsp.coloured(n, rate, rng, 1.0), rate, 60, 3000) * (0.3 + 0.4 * req.intensity)
    t = dsp.times(n, rate)
    mains = sum(np.sin(2 * np.pi * 50 * k * t) / k ** 2 for k in range(1, 6)) * 0.05
    return np.stack([air + mains, np.roll(air, rate // 11) + mains], axis=1)


def ambience_ocean(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    duration = n / rate
    period = 10.0 - 6.0 * req.pace
    bands = dsp.band_bank(n, rate, rng, [60, 150, 400, 1000, 2500, 6000, 12000], slope=1.2)
    t = dsp.times(n, rate)
    swell = np.zeros(n)
    start = -rng.random() * period
    while start < duration:
        swell += np.exp(-0.5 * ((t - start - period * 0.4) / (period * 0.18)) ** 2) * rng.uniform(0.6, 1.0)
        start += period * rng.uniform(0.8, 1.2)
    waves = dsp.moving_band(bands, 1.0 + swell * (2.5 + 2.0 * req.intensity), 1.3) * (0.15 + swell)
    return np.stack([waves, np.roll(waves, rate // 5)], axis=1)


def tone(req: SfxRequest, n: int, rate: int, rng: Rng) -> np.ndarray:
    return np.sin(2 * np.pi * req.frequency_hz * dsp.times(n, rate))


PRESETS: dict[str, Preset] = {
    "rain": Preset(rain, 0.7), "wind": Preset(wind, 0.7), "fire": Preset(fire, 0.75),
    "footsteps": Preset(footsteps, 0.8), "door": Preset(door, 0.85), "explosion": Preset(explosion, 0.89),
    "whoosh": Preset(whoosh, 0.8), "ui-click": Preset(ui_click, 0.6), "ui-confirm": Preset(ui_confirm, 0.6, True),
    "ui-error": Preset(ui_error, 0.6, True), "laser": Preset(laser, 0.7, True),
    "engine-hum": Preset(engine_hum, 0.7), "ambience-forest": Preset(ambience_forest, 0.5),
    "ambience-city": Preset(ambience_city, 0.55), "ambience-room": Preset(ambience_room, 0.15),
    "ambience-ocean": Preset(ambience_ocean, 0.65), "tone": Preset(tone, 0.5, True),
}
