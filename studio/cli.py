"""The ``studio`` command: with no arguments it opens the window; otherwise a
headless front end to the same engines, queue and library.

    studio generate <kind> --prompt "..." [--seed N] [--size WxH] [--out PATH]
    studio train lora --model M --name N --folder DIR [--prompt P]   (or: studio train text-lora ...)
    studio models list [--modality M] [--json]
    studio info FILE [--json | --credentials [--json]]
    studio library list [--search TEXT]
    studio servers add NAME URL [--api-key-stdin] | list | remove NAME | test NAME
    studio video consistency FILE [--json]

Options of ``generate`` are made from the request dataclass of each engine,
so a new engine gets its command line without code here. Errors print one
line and exit non-zero."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from studio.core.jobs import CancelToken, JobState, Request, StudioError, request_type

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130
MODALITIES = ("text", "image", "audio", "video")
SERVER_KINDS = ("openai", "comfyui")


class ProgressBar:
    """A one-line text progress bar on stderr (a Reporter)."""

    preview_interval_s = float("inf")  # pictures are not shown here: engines need not make previews

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr  # looked up now: a default bound at import goes stale when stderr is swapped
        self.width = width
        self.started = time.monotonic()

    def progress(self, done: int, total: int, message: str = "") -> None:
        total = max(total, 1)
        filled = int(self.width * done / total)
        elapsed = time.monotonic() - self.started
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {elapsed:5.1f}s {message[:30]}")
        self.stream.flush()

    def preview(self, payload: Any) -> None:
        if isinstance(payload, str):  # streamed text goes to stdout as it arrives
            sys.stdout.write(payload)
            sys.stdout.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _request_fields(cls: type[Request]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.name not in ("step_delay_s",)]


def _described(cls: type[Request], attribute: str) -> dict[str, Any]:
    """A request class's ``HELP`` or ``CHOICES``, its bases' merged under its own."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get(attribute, {}))
    return merged


def _shown(value: Any) -> str:
    if value == "":
        return "none"
    return repr(value) if isinstance(value, str) and (" " in value or not value.strip()) else str(value)


def _help(meaning: str, choices: Sequence[Any] = (), default: Any = None, *, default_text: str = "") -> str:
    """"meaning; one of: a, b, c (default: x)", %-escaped for argparse."""
    text = meaning or ""
    if choices:
        text += "; one of: " + ", ".join(_shown(c) for c in choices)
    if default_text or default is not None:
        text += f" (default: {default_text or _shown(default)})"
    return text.replace("%", "%%")


# Some Pythons' BooleanOptionalAction append "(default: ...)" to the help themselves.
_BOOLEAN_HELP_HAS_DEFAULT = "default" in (argparse.BooleanOptionalAction(["--x"], "x", default=False, help="").help
                                          or "")


def _add_request_options(parser: argparse.ArgumentParser, cls: type[Request]) -> None:
    names = {f.name for f in _request_fields(cls)}
    meanings, sets = _described(cls, "HELP"), _described(cls, "CHOICES")
    for field in _request_fields(cls):
        default = field.default if field.default is not dataclasses.MISSING else None
        option = "--" + field.name.replace("_", "-")
        if field.name == "model_id":
            option = "--model"
        meaning, choices = meanings.get(field.name, ""), tuple(sets.get(field.name, ()))
        # A fixed set is also argparse's choices, so a wrong value is a one-line usage
        # error naming the valid ones; the metavar keeps a long set out of the usage line.
        restrict = {"choices": choices, "metavar": field.name.upper()} if choices else {}
        if isinstance(default, bool):
            shown = None if _BOOLEAN_HELP_HAS_DEFAULT else ("on" if default else "off")
            parser.add_argument(option, dest=field.name, action=argparse.BooleanOptionalAction, default=default,
                                help=_help(meaning, default=shown))
        elif field.name in ("width", "height") and isinstance(default, int):
            # Left unset, the size follows the model (see _model_native_size).
            parser.add_argument(option, dest=field.name, type=int, default=None,
                                help=_help(meaning, default_text=f"the model's native size, else {default}"))
        elif isinstance(default, (int, float, str)):
            parser.add_argument(option, dest=field.name, type=type(default), default=default,
                                help=_help(meaning, choices, default), **restrict)
        elif field.type in ("tuple[str, ...]", tuple[str, ...]):
            # A tuple of strings is a repeatable option named in the singular:
            # `--keyframe "0:a" --keyframe "48:b"` fills ``keyframes``.
            singular = option[:-1] if option.endswith("s") else option
            restrict.setdefault("metavar", singular[2:].replace("-", "_").upper())
            parser.add_argument(singular, dest=field.name, action="append", default=None,
                                help=_help(meaning or "a value", choices) + " (repeatable)", **restrict)
    if {"width", "height"} <= names:
        parser.add_argument("--size", help="WIDTHxHEIGHT, e.g. 512x512 (instead of --width and --height)")


def _build_parser() -> argparse.ArgumentParser:
    from studio.engines.registry import ENGINES, load_request_types
    load_request_types()
    parser = argparse.ArgumentParser(prog="studio", description="Studio: local generative models, offline.")
    commands = parser.add_subparsers(dest="command")

    generate = commands.add_parser("generate", help="generate an artifact headlessly")
    kinds = generate.add_subparsers(dest="kind", required=True)
    train = commands.add_parser("train", help="train a LoRA on your own pictures or writing (queued like any job)")
    trainers = train.add_subparsers(dest="kind", required=True)
    for kind, entry in ENGINES.items():
        sub = (trainers if entry.modality == "training" else kinds).add_parser(kind, help=entry.title)
        _add_request_options(sub, request_type(kind))
        sub.add_argument("--out", type=Path, help="also copy the result to this path (it is always kept in "
                                                  "the library)")

    models = commands.add_parser("models", help="list the models Studio can find")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="the models found, with their modality, format, size and status")
    listing.add_argument("--modality", choices=MODALITIES, metavar="MODALITY",
                         help=_help("show only the models of one modality", MODALITIES))
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    info = commands.add_parser("info", help="print the recipe embedded in an artifact file, then its Content "
                                            "Credentials (claims, ingredients, validation state) and whether it "
                                            "carries the watermark")
    info.add_argument("file", type=Path, help="an image, audio or video file Studio made")
    info.add_argument("--credentials", action="store_true",
                      help="print only the Content Credentials and watermark")
    info.add_argument("--json", action="store_true",
                      help="machine-readable: the recipe JSON alone on stdout (the credentials on stderr); "
                           "with --credentials, the credentials as JSON")

    video = commands.add_parser("video", help="video tools")
    video_sub = video.add_subparsers(dest="video_command", required=True)
    consistency = video_sub.add_parser("consistency", help="per-frame warp error and luminance jump of a clip")
    consistency.add_argument("file", type=Path, help="the video file to measure")
    consistency.add_argument("--json", action="store_true", help="machine-readable output")

    srv = commands.add_parser("servers", help="remote servers: OpenAI-compatible text servers and ComfyUI "
                                                  "image servers")
    srv_sub = srv.add_subparsers(dest="servers_command", required=True)
    srv_add = srv_sub.add_parser("add", help="list a server (e.g. http://localhost:8080/v1 for llama.cpp)")
    srv_add.add_argument("name", help="a short name for the server (its models are listed as NAME/MODEL)")
    srv_add.add_argument("url", help="the server's API address")
    srv_add.add_argument("--api-key-stdin", action="store_true",
                         help="read the server's API key from standard input (never give it as an argument)")
    srv_add.add_argument("--kind", choices=SERVER_KINDS, default="openai",
                         help="openai: an OpenAI-compatible text server; comfyui: a ComfyUI image server "
                              "(default: openai)")
    srv_sub.add_parser("list", help="the listed servers (keys are never printed)")
    srv_remove = srv_sub.add_parser("remove", help="forget a server and its key")
    srv_remove.add_argument("name", help="the server's name, as `studio servers list` shows it")
    srv_test = srv_sub.add_parser("test", help="ask a server for its models")
    srv_test.add_argument("name", help="the server's name, as `studio servers list` shows it")
    srv_sub.add_parser("fetch", help="bring results that ComfyUI servers finished after Studio was closed "
                                     "into the library")

    library = commands.add_parser("library", help="the output library")
    library_sub = library.add_subparsers(dest="library_command", required=True)
    lib_list = library_sub.add_parser("list", help="the newest items: id, date, modality, prompt and file")
    lib_list.add_argument("--search", default="", help="show only items whose prompt or model id contains this text")
    lib_list.add_argument("--limit", type=int, default=50, help=_help("show at most this many items", default=50))
    lib_workflow = library_sub.add_parser("workflow", help="an image's ComfyUI API-format workflow (JSON)")
    lib_workflow.add_argument("id", type=int, help="the item's id, as `studio library list` shows it")
    return parser


def _request_from_args(args: argparse.Namespace) -> Request:
    cls = request_type(args.kind)
    values = {f.name: getattr(args, f.name) for f in _request_fields(cls) if hasattr(args, f.name)}
    # An unused repeatable option is None: the field keeps its default.
    values = {name: tuple(value) if isinstance(value, list) else value
              for name, value in values.items() if value is not None}
    if getattr(args, "size", None):
        try:
            width, height = (int(part) for part in args.size.lower().split("x"))
        except ValueError:
            raise StudioError(f"--size must look like 512x512, not {args.size!r}") from None
        values.update(width=width, height=height)
    names = {f.name for f in _request_fields(cls)}
    if {"width", "height"} <= names and "width" not in values and "height" not in values:
        native = _model_native_size(values.get("model_id", ""))
        if native:
            values.update(width=native[0], height=native[1])
    request = cls(**values)
    validate = getattr(request, "validate", None)
    if validate:
        validate()
    return request


def _model_native_size(model_id: str) -> tuple[int, int] | None:
    """The size a model's card says it was made for (``native_size`` in its
    model.json), so a 64-pixel model is not asked for 512 pixels by default."""
    if not model_id:
        return None
    from studio.engines import context

    try:
        size = context.model_manager().card(model_id).extra.get("native_size")
    except StudioError:
        return None  # the engine reports the missing model with its own message
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    return None


def _check_writable(out: Path) -> None:
    """Raise a one-line error when ``--out`` names a path that cannot be written."""
    import os

    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    reason = ""
    if out.is_dir():
        reason = "it is a folder"
    elif not folder.is_dir():
        reason = f"{folder} is not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        reason = "permission denied"
    if reason:
        raise StudioError(f"--out {out} cannot be written ({reason})")


def _generate(args: argparse.Namespace) -> int:
    from studio.engines.execute import execute_job
    from studio.engines.registry import open_studio_services

    if args.out:
        _check_writable(args.out)  # before the job runs, not after
    services = open_studio_services()  # first: the request may need the model's card
    try:
        request = _request_from_args(args)
        job = services.queue.submit(request)
        job = services.queue.start(job.id)
        bar = ProgressBar()
        cancel = CancelToken()
        try:
            state, item = execute_job(job, services.queue, services.library, bar, cancel)
        except KeyboardInterrupt:
            cancel.cancel()
            bar.close()
            services.queue.mark_cancelled(job.id)
            print("studio: cancelled", file=sys.stderr)
            return EXIT_CANCELLED
        bar.close()
        if state is not JobState.FINISHED:
            print(f"studio: error: {services.queue.get(job.id).error}", file=sys.stderr)
            return EXIT_FAILED
        path = item.path
        if args.out:
            try:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item.path, args.out)
                _copy_sidecars(item.path, args.out)
            except OSError as exc:
                raise StudioError(f"--out {args.out} cannot be written ({exc.strerror or exc}); the result is "
                                  f"in the library: {item.path}") from None
            path = args.out
        print(path)
        return 0
    finally:
        services.close()


def _copy_sidecars(source: Path, target: Path) -> None:
    """The files that travel with an artifact: its Content Credentials
    sidecar (text, JSON, MIDI, OTIO) and its recipe sidecar. One the target
    had from an earlier file is removed: it would not match."""
    from studio.core import credentials, provenance

    for sidecar in (credentials.sidecar_path, provenance.sidecar_path):
        if sidecar(source).exists():
            shutil.copyfile(sidecar(source), sidecar(target))
        elif sidecar(target).exists():
            sidecar(target).unlink()


def _models_list(args: argparse.Namespace) -> int:
    from studio.core.models.cards import human_size
    from studio.engines.registry import open_studio_services

    services = open_studio_services()
    try:
        cards = [c for c in services.models.refresh() if not args.modality or c.modality == args.modality]
    finally:
        services.close()
    if args.json:
        print(json.dumps([c.to_dict() for c in cards], indent=2, default=str))
        return 0
    if not cards:
        print("no models found; add a folder with `models.folders` in settings")
        return 0
    print(f"{'ID':34} {'MODALITY':8} {'FORMAT':16} {'SIZE':>9}  STATUS")
    for card in cards:
        status = "ok" if card.usable else card.error
        print(f"{card.id:34} {card.modality or '?':8} {card.format:16} {human_size(card.size_bytes):>9}  {status}")
    return 0


def _servers(args: argparse.Namespace) -> int:
    from studio.core import servers
    from studio.core.paths import studio_paths
    from studio.core.settings import Settings

    store = servers.store(Settings(studio_paths().ensure().settings_file))
    if args.servers_command == "add":
        key = None
        if args.api_key_stdin:
            key = sys.stdin.readline().strip()
            if not key:
                raise StudioError("--api-key-stdin was given but standard input held no key")
        endpoint = store.add(args.name, args.url, getattr(args, "kind", "openai"), api_key=key)
        print(f"added {endpoint.name}: {endpoint.api_url} ({'API key set' if key else 'no API key'})")
        return 0
    if args.servers_command == "list":
        endpoints = store.list()
        if not endpoints:
            print("no servers; add one with `studio servers add NAME URL`")
            return 0
        print(f"{'NAME':20} {'URL':44} KEY")
        for endpoint in endpoints:
            print(f"{endpoint.name:20} {endpoint.api_url:44} {'set' if endpoint.has_key() else 'none'}")
        return 0
    if args.servers_command == "remove":
        endpoint = store.remove(args.name)
        print(f"removed {endpoint.name}")
        return 0
    if args.servers_command == "fetch":
        return _servers_fetch()
    from studio.engines.text.remote import list_models

    endpoint = store.get(args.name)
    if endpoint.kind == "comfyui":
        return _servers_test_comfy(endpoint)
    try:
        models = list_models(endpoint)
    except StudioError as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{endpoint.name}: {len(models)} model{'s' if len(models) != 1 else ''} at {endpoint.api_url}")
    for model in models:
        print(f"  {endpoint.name}/{model}")
    return 0


def _info(args: argparse.Namespace) -> int:
    """The recipe as JSON, then the Content Credentials (claims, ingredients,
    validation state) and the watermark, all on stdout. ``--json`` keeps
    stdout machine-readable: the recipe JSON alone, the credentials on
    stderr. ``--credentials`` prints only the credentials (``--json``: as
    JSON)."""
    from studio.core.credentials import read_credentials
    from studio.core.credentials.watermark import detect_file
    from studio.core.paths import studio_paths
    from studio.core.provenance import DamagedFile, read_recipe

    if not args.file.exists():
        raise StudioError(f"cannot read {args.file}: no such file")
    recipe, missing = None, ""
    try:
        recipe = read_recipe(args.file)
    except DamagedFile as exc:
        if not args.credentials:
            raise  # what is wrong with the file comes first
        missing = str(exc)  # asked for the credentials: they say whether the file was tampered with
    except StudioError as exc:
        missing = str(exc)
    found = read_credentials(args.file, studio_paths().config)
    marked = detect_file(args.file) if args.file.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"} else None
    lines = found.lines()
    if marked is not None:
        lines.append("Studio watermark: " + ("detected" if marked else "not found"))
    if args.credentials:
        if args.json:
            print(json.dumps({**found.to_dict(), "watermark": marked}, indent=2, ensure_ascii=False))
        else:
            print("\n".join(lines))
        return 0
    if recipe is None and not found.present and not marked:
        raise StudioError(missing or f"{args.file.name} carries no Studio recipe")
    if recipe is not None:
        print(json.dumps(recipe, indent=2, ensure_ascii=False))
    else:
        print(f"no embedded recipe ({missing})", file=sys.stderr)
    if args.json:  # stdout stays one JSON document
        print("\n".join(lines), file=sys.stderr)
    else:
        if recipe is not None:
            print()
        print("\n".join(lines))
    return 0


def _servers_fetch() -> int:
    from studio.engines.image.comfy.engine import fetch_finished
    from studio.engines.registry import open_studio_services

    services = open_studio_services()
    try:
        lines = fetch_finished(services.library)
    finally:
        services.close()
    print("\n".join(lines) if lines else "no unfinished ComfyUI jobs")
    return 0


def _servers_test_comfy(endpoint) -> int:
    from studio.engines.image.comfy.client import ComfyClient
    from studio.engines.image.comfy.servers import object_info
    from studio.engines.image.comfy.graph import offered

    try:
        with ComfyClient(endpoint) as client:
            info = object_info(client, fresh=True)
    except StudioError as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    checkpoints = offered(info, "CheckpointLoaderSimple", "ckpt_name")
    print(f"{endpoint.name}: ComfyUI with {len(info)} nodes and {len(checkpoints)} checkpoint(s) at "
          f"{endpoint.base_url}")
    for name in checkpoints:
        print(f"  {endpoint.name}/{name}")
    return 0


def _library_workflow(args: argparse.Namespace) -> int:
    from studio.engines.image.comfy.graph import workflow_for_recipe
    from studio.engines.registry import open_studio_services

    services = open_studio_services()
    try:
        print(json.dumps(workflow_for_recipe(services.library.get(args.id).recipe), indent=2))
    finally:
        services.close()
    return 0


def _library_list(args: argparse.Namespace) -> int:
    from studio.engines.registry import open_studio_services

    if args.library_command == "workflow":
        return _library_workflow(args)
    services = open_studio_services()
    try:
        for item in services.library.items(search=args.search, limit=args.limit):
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.created))
            print(f"{item.id:5} {stamp} {item.modality:6} {item.prompt[:50]!r:52} {item.path}")
    finally:
        services.close()
    return 0


def _video_consistency(args: argparse.Namespace) -> int:
    from studio.engines.video.engine import consistency_of_file, consistency_table

    bar = ProgressBar()
    report, fps = consistency_of_file(args.file, bar)
    bar.close()
    print(json.dumps(report.to_dict()) if args.json else consistency_table(report, fps))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        from studio.qt.app import main as gui_main

        return gui_main()
    parser = _build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "generate": _generate,
        "train": _generate,
        "info": _info,
        "models": _models_list,
        "library": _library_list,
        "servers": _servers,
        "video": _video_consistency,
    }
    if args.command not in handlers:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handlers[args.command](args)
    except StudioError as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if args.command not in ("generate", "train") else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
