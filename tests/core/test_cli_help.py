"""``studio --help``: every option of every subcommand says what it means, and
the fixed sets the requests' ``validate`` checks are listed and enforced."""

from __future__ import annotations

import argparse
import re

import pytest

from studio.cli import _build_parser, main
from studio.engines.audio.requests import AUDIO_FORMATS, MUSIC_STYLES, SPEECH_PRESETS
from studio.engines.image.requests import SCHEDULERS
from studio.engines.video.requests import EDIT_OPERATIONS, EXPORT_FORMATS


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for the parser and every subcommand below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def _options(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    return next(a for a in parser._actions if a.dest == dest and a.option_strings)


def _subparser(*path: str) -> argparse.ArgumentParser:
    return dict(_walk(_build_parser()))[path]


def test_every_argument_of_every_subcommand_has_a_meaning():
    parsers = dict(_walk(_build_parser()))
    assert ("generate", "image") in parsers and ("servers", "add") in parsers and ("library", "list") in parsers
    missing = []
    for path, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            text = (action.help or "").strip()
            meaning = re.sub(r"\(default: [^)]*\)|\(repeatable\)|; one of: .*", "", text).strip(" ;")
            if len(meaning) < 8:
                missing.append(f"studio {' '.join(path)} {'/'.join(action.option_strings) or action.dest}: {text!r}")
            # The formatter would fail on a stray %: render every help as --help does.
            parser.format_help()
    assert not missing, "\n".join(missing)


def test_every_subcommand_has_a_one_line_summary():
    for path, parser in _walk(_build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert (choice.help or "").strip(), f"studio {' '.join(path)} {choice.dest}"


@pytest.mark.parametrize(("path", "dest", "values"), [
    (("generate", "image"), "scheduler", SCHEDULERS),
    (("generate", "speech"), "format", AUDIO_FORMATS),
    (("generate", "speech"), "preset", SPEECH_PRESETS),
    (("generate", "music"), "style", MUSIC_STYLES),
    (("generate", "sfx"), "format", AUDIO_FORMATS),
    (("generate", "video-export"), "format", EXPORT_FORMATS),
    (("generate", "video-edit"), "operation", EDIT_OPERATIONS),
])
def test_fixed_sets_are_the_validated_constants_and_are_listed(path, dest, values):
    action = _options(_subparser(*path), dest)
    assert tuple(action.choices) == tuple(values)
    help_text = " ".join(_subparser(*path).format_help().split())
    for value in values:
        assert value in help_text, (path, dest, value)


def test_every_fixed_set_names_a_field_and_holds_its_default():
    """A CHOICES entry names a real field, and its default is one of the choices
    (else the bare command would be refused before validate ever ran)."""
    import dataclasses

    from studio.core.jobs import request_type
    from studio.engines.registry import ENGINES, load_request_types

    load_request_types()
    checked = 0
    for kind in ENGINES:
        cls = request_type(kind)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, values in getattr(cls, "CHOICES", {}).items():
            assert name in fields, (kind, name)
            assert fields[name].default in values, (kind, name)
            assert name in cls.HELP, (kind, name)
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize(("argv", "valid"), [
    (["generate", "image", "--prompt", "x", "--scheduler", "Euler b"], "DPM++ 2M Karras"),
    (["generate", "speech", "--prompt", "x", "--format", "mp3"], "flac"),
    (["generate", "speech", "--prompt", "x", "--preset", "angry"], "whisper"),
    (["generate", "music", "--style", "polka"], "chiptune"),
    (["generate", "music", "--muted-track", "drums", "--key", "H"], "F#"),
    (["generate", "video-export", "--project", "p.json", "--format", "avi"], "otio"),
    (["generate", "upscale", "--factor", "3"], "4"),
    (["models", "list", "--modality", "smell"], "audio"),
])
def test_a_wrong_value_is_a_one_line_usage_error_naming_the_valid_ones(argv, valid, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    message = err[-1]
    assert message.startswith("studio ") and "invalid choice" in message, err
    assert valid in message and argv[-1] in message
    assert all(line.startswith(("usage:", " ", "studio ")) for line in err)  # usage, then the one error line


def test_help_prints_meanings_and_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "image", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--scheduler SCHEDULER sampler that removes the noise" in out
    assert "(default: 'Euler a')" in out
    assert "one of: Default, Euler, 'Euler a'" in out
    assert "--hires-fix, --no-hires-fix render small" in out and "(default: off)" in out
