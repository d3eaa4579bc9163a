"""The prompt builder's vocabulary: the guides designers write prompts with
(subject, composition, lighting, colour, perspective, texture, style) and
style presets (photo, watercolor, comic, 3D render, logo, UI element,
product mockup, interior mockup) that wrap a subject in the words that
style needs, and add to the negative prompt what spoils it.

``compose`` puts them together into plain prompt text, which then stays
editable in the prompt box like anything typed. Light module (no Qt, no
torch), so it can be tested and reused by the command line."""

from __future__ import annotations

from dataclasses import dataclass

GUIDES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # key: (label, hint, suggestions)
    "subject": ("Subject", "Who or what, doing what, where", (
        "a lighthouse keeper reading by a window", "a ceramic coffee cup on a wooden table",
        "a red fox in fresh snow", "a modern glass house on a cliff")),
    "composition": ("Composition", "How the frame is arranged", (
        "close-up", "medium shot", "wide establishing shot", "rule of thirds", "centered, symmetrical",
        "overhead flat lay", "lots of negative space")),
    "lighting": ("Lighting", "Where the light comes from and how it feels", (
        "golden hour sunlight", "soft window light", "studio softbox lighting", "rim light",
        "dramatic chiaroscuro", "overcast, diffuse light", "neon glow at night")),
    "color": ("Colour", "Palette and mood", (
        "muted earth tones", "pastel palette", "vibrant complementary colours", "teal and orange",
        "monochrome blue", "black and white")),
    "perspective": ("Perspective", "Camera position and lens", (
        "eye level", "low angle", "bird's-eye view", "isometric view", "35mm lens", "macro lens",
        "wide-angle 24mm lens")),
    "texture": ("Texture", "Surfaces and material feel", (
        "film grain", "matte paper texture", "glossy reflections", "brushed metal", "soft linen fabric",
        "rough concrete")),
    "style": ("Style", "Medium or artistic style", (
        "photorealistic", "watercolor illustration", "flat vector illustration", "oil painting",
        "ink sketch", "Bauhaus poster")),
}
GUIDE_ORDER = ("subject", "composition", "lighting", "color", "perspective", "texture", "style")


@dataclass(frozen=True)
class StylePreset:
    name: str
    positive: str  # words added after the guides
    negative: str  # words added to the negative prompt
    size: tuple[int, int] = (0, 0)  # a suggested size (0: keep the form's)


STYLE_PRESETS: tuple[StylePreset, ...] = (
    StylePreset("Photo", "professional photograph, natural colours, sharp focus, fine detail, 50mm lens",
                "illustration, painting, cartoon, 3d render, blurry, oversaturated, watermark, text"),
    StylePreset("Watercolor", "watercolor painting, soft washes, visible paper texture, loose brushwork, "
                "bleeding edges", "photo, 3d render, hard edges, digital art, text, watermark"),
    StylePreset("Comic", "comic book panel, bold ink outlines, halftone shading, flat vivid colours, "
                "dynamic pose", "photo, realistic, blurry, muddy colours, watermark"),
    StylePreset("3D render", "3d render, octane style, physically based materials, soft global illumination, "
                "studio backdrop", "photo, painting, sketch, flat, noisy, low poly artifacts, text"),
    StylePreset("Logo", "minimal flat vector logo, simple geometric shapes, two colours, centered on a plain "
                "white background, crisp edges", "photo, gradient, texture, clutter, 3d, text, letters, "
                "watermark, shadow", (512, 512)),
    StylePreset("UI element", "clean user interface element, flat design, rounded corners, subtle shadow, "
                "consistent spacing, high contrast, plain background", "photo, noise, clutter, perspective, "
                "blurry, watermark, gibberish text"),
    StylePreset("Product mockup", "product shot on a seamless backdrop, soft studio lighting, subtle reflection, "
                "commercial photography, clean composition", "clutter, people, hands, text, watermark, "
                "harsh shadows, blurry"),
    StylePreset("Interior mockup", "interior design photograph, wide angle, natural daylight, styled furniture, "
                "architectural digest", "people, clutter, distorted lines, fisheye, blurry, watermark"),
)


def preset_named(name: str) -> StylePreset | None:
    return next((p for p in STYLE_PRESETS if p.name.lower() == name.lower()), None)


def compose(choices: dict[str, str], preset: str = "") -> tuple[str, str]:
    """(prompt, negative additions) from the guides' texts and an optional style preset.

    The subject leads (models weigh the first words most), the other guides
    follow in the order designers read a brief, then the preset's words;
    empty guides are skipped and repeated phrases kept once."""
    parts: list[str] = []
    for key in GUIDE_ORDER:
        text = " ".join(choices.get(key, "").split()).strip(" ,")
        if text:
            parts.append(text)
    style = preset_named(preset) if preset else None
    if style is not None:
        parts.append(style.positive)
    seen: set[str] = set()
    phrases = []
    for phrase in ", ".join(parts).split(","):
        phrase = phrase.strip()
        if phrase and phrase.lower() not in seen:
            seen.add(phrase.lower())
            phrases.append(phrase)
    return ", ".join(phrases), (style.negative if style is not None else "")


def merge_negative(current: str, addition: str) -> str:
    """The negative prompt with ``addition``'s phrases appended, none twice."""
    phrases = [p.strip() for p in current.split(",") if p.strip()]
    known = {p.lower() for p in phrases}
    for phrase in addition.split(","):
        phrase = phrase.strip()
        if phrase and phrase.lower() not in known:
            known.add(phrase.lower())
            phrases.append(phrase)
    return ", ".join(phrases)
