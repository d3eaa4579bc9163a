"""A generated author for measuring text personalisation: a harbour-master's logbook.

No public-domain book ships in the environment's packages, so the tests and
the benchmark write their own: entries in one recognisable voice (fixed
phrasing, a small world of ships, weather and chores), drawn from a seeded
generator. A fresh seed gives more text by the same author, so held-out
perplexity measures whether a LoRA learned the voice, not the lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHIPS = ("the Marigold", "the Grey Heron", "the Saint Brendan", "the Lucky Wren", "the Tern", "the Old Providence")
WINDS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
WEATHER = ("fair and steady", "fresh, with squalls by noon", "light and shifting", "hard, with rain off the hills",
           "calm until the evening tide", "gusting, the glass falling")
CARGO = ("salt cod", "slate from Penrhyn", "barley", "coal for the lamp room", "timber", "wool bales", "lobster pots")
CHORES = ("tarred the slipway", "mended the north buoy", "cleared weed from the sluice", "painted the bollards",
          "trimmed the harbour lamp", "counted the moorings twice", "sent the boy for rope")
REMARKS = ("All quiet on the quay.", "The gulls were bold today.", "Mrs Penhale brought bread for the watch.",
           "Nothing more to report, thank God.", "I do not like the look of the sky.",
           "The tide ran a hand higher than the almanac says.")


def entry(rng: np.random.Generator, day: int) -> str:
    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(len(options)))]

    lines = [f"Day {day}. Wind from the {pick(WINDS)}, {pick(WEATHER)}."]
    for _ in range(int(rng.integers(1, 4))):
        lines.append(f"{pick(SHIPS).capitalize()} came in on the morning tide with {pick(CARGO)}, "
                     f"and went out again at {int(rng.integers(1, 12))} o'clock.")
    lines.append(f"The men {pick(CHORES)} and {pick(CHORES)}.")
    lines.append(pick(REMARKS))
    lines.append("Signed, T. Carrow, harbour master.")
    return " ".join(lines)


def logbook(seed: int, entries: int) -> str:
    rng = np.random.default_rng(seed)
    return "\n\n".join(entry(rng, day) for day in range(1, entries + 1))


def write_logbook(folder: Path, files: int = 6, entries: int = 12, seed: int = 1) -> Path:
    """``files`` logbook files of ``entries`` entries each in ``folder`` (the writing to learn from)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (folder / f"logbook-{i + 1:02d}.txt").write_text(logbook(seed * 1000 + i, entries) + "\n", encoding="utf-8")
    return folder
