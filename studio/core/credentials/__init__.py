"""Content Credentials: a signed C2PA manifest in every artifact Studio
writes, read back with its validation state.

``ContentCredentials`` is the policy one installation signs with (on or
off, its certificate folder, the invisible watermark); the library and the
exporters call ``sign_bytes``/``sign_file`` in the job's thread. A manifest
holds a ``c2pa.created`` action with the IPTC digital source type
``trainedAlgorithmicMedia``, the generator (Studio and its version), the
model (name, hash, licence) and the Studio recipe as the custom assertion
``org.studio.recipe``. An artifact made from others (img2img, inpaint,
upscale, a video edit, a timeline export) adds them as ingredients, with a
``c2pa.opened`` + ``c2pa.edited`` (one parent) or ``c2pa.placed`` (the
clips of a timeline) action, so the chain of edits is visible. Files a
person made in Studio (an inpainting mask, a live paint layer) say so with
the digital source type ``digitalCreation`` instead.

Files written outside the library (exports, files saved from the window)
go through ``write_signed``/``sign_written``: the manifest inside, or a
sidecar, by suffix; a failure returns a one-line warning and the file is
written all the same. ``sequence_signer`` signs the frames of a PNG
sequence, reading the sources they are made from once.

Formats C2PA can hold (PNG, JPEG, WebP, GIF, WAV, MP3, FLAC, MP4/MOV, ZIP)
carry the manifest inside; the others (text, JSON, MIDI, OTIO) keep their
embedded recipe and get a ``<file>.c2pa`` sidecar. C2PA hashes only the
formats it knows, so a sidecar is bound to its file through a fixed
one-entry ZIP of the file's bytes (``_binding_zip``): Studio's reader
rebuilds it to check the hash; other C2PA tools see a valid manifest store
but cannot tie it to the file on their own.

Reading (``read_credentials``) reports ``valid`` (signed and trusted: this
installation's own CA, or the imported chain's root), ``untrusted`` (the
signature and hashes hold, the signer is unknown here) or ``tampered``
(a hash or signature fails; the reason names the failing check)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from studio import __version__
from studio.core.jobs import StudioError

log = logging.getLogger(__name__)

RECIPE_LABEL = "org.studio.recipe"
SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
HUMAN_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"  # a person's own work
EMBEDDED_MIME = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".zip": "application/x-zip",  # the name c2pa embeds under ("application/zip" is refused as unsupported)
}
SIDECAR_SUFFIXES = {".md", ".txt", ".json", ".mid", ".midi", ".otio"}
SIDECAR_EXT = ".c2pa"
SETTING_SIGN = "credentials.sign"
SETTING_WATERMARK = "credentials.watermark"
_BINDING_DATE = (1980, 1, 1, 0, 0, 0)


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + SIDECAR_EXT)


def can_sign(suffix: str) -> bool:
    suffix = suffix.lower()
    return suffix in EMBEDDED_MIME or suffix in SIDECAR_SUFFIXES


@dataclass
class SignResult:
    data: bytes  # the file's bytes, with the manifest inside where the format holds one
    sidecar: bytes | None = None  # a detached manifest store, for the other formats
    signed: bool = False
    error: str = ""
    signer: str = ""

    def summary(self) -> dict[str, Any]:
        """What the library's index records (never a key or a path to one)."""
        if self.signed:
            return {"signed": True, "signer": self.signer, "sidecar": self.sidecar is not None}
        return {"signed": False, "error": self.error} if self.error else {"signed": False}


class ContentCredentials:
    """How this installation signs. ``enabled`` off: nothing is signed."""

    def __init__(self, config: Path, enabled: bool = True, watermark: bool = True,
                 thumbnails: bool = False, settings: Any = None) -> None:
        self.config = Path(config)
        self._enabled = enabled
        self._watermark = watermark
        self.thumbnails = thumbnails
        self.settings = settings  # when given, read at each use: a change in Settings applies to the next job

    @classmethod
    def from_settings(cls, settings: Any, config: Path) -> ContentCredentials:
        return cls(config, settings=settings)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.get(SETTING_SIGN, True)) if self.settings is not None else self._enabled

    @property
    def watermark(self) -> bool:
        return bool(self.settings.get(SETTING_WATERMARK, True)) if self.settings is not None else self._watermark

    def seal(self, data: bytes, suffix: str, recipe: dict[str, Any], sign: bool = True) -> SignResult:
        """An artifact's final bytes: the invisible watermark (images of at
        least 256 px, when on), the embedded recipe, then the signed manifest
        (when on). ``result.summary()`` is what the index records."""
        from studio.core import provenance

        suffix = suffix.lower()
        if self.watermark and suffix == ".png":
            try:
                from studio.core.credentials.watermark import embed_png

                data = embed_png(data)
            except Exception as exc:  # noqa: BLE001 - a missing watermark never costs the artifact
                log.warning("watermark left out: %s", _one_line(exc))
        data = provenance.embed(data, suffix, recipe)
        if not sign:
            return SignResult(data)
        sources, placed = sources_of(recipe)
        return self.sign_bytes(data, suffix, recipe, sources, placed)

    # --- signing ---------------------------------------------------------

    def identity(self):
        from studio.core.credentials.certs import load_identity

        return load_identity(self.config)

    def _signer(self):
        import c2pa

        identity = self.identity()
        info = c2pa.C2paSignerInfo(identity.alg, identity.chain_pem, identity.private_key_pem(), None)
        return c2pa.Signer.from_info(info), identity

    def _context(self):
        import c2pa

        return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": self.thumbnails}}})

    def sign_bytes(self, data: bytes, suffix: str, recipe: dict[str, Any],
                   sources: Iterable[Path | str] = (), placed: bool = False, *,
                   source_type: str = SOURCE_TYPE, ingredients: Ingredients | None = None) -> SignResult:
        """``data`` signed, or unchanged with the reason when signing is off or fails.
        ``ingredients`` (from ``self.ingredients``) stands for ``sources`` and
        ``placed`` when many files made from the same sources are signed.

        Never raises for a signing problem: the artifact is kept with its
        plain recipe and ``error`` says why."""
        suffix = suffix.lower()
        if not self.enabled:
            return SignResult(data)
        if not can_sign(suffix):
            return SignResult(data, error=f"C2PA cannot sign {suffix or 'this'} files")
        try:
            return self._sign(data, suffix, recipe, [Path(s) for s in sources if s], placed, source_type,
                              ingredients)
        except Exception as exc:  # noqa: BLE001 - a signing failure never loses the artifact
            log.warning("signing a %s artifact failed: %s", suffix, _one_line(exc))
            return SignResult(data, error=f"not signed: {_one_line(exc)}")

    def _sign(self, data: bytes, suffix: str, recipe: dict[str, Any], sources: list[Path],
              placed: bool, source_type: str = SOURCE_TYPE, ingredients: Ingredients | None = None) -> SignResult:
        import c2pa

        signer, identity = self._signer()
        try:
            usable = _usable_sources(sources) if ingredients is None else []
            archives = ingredients.archives if ingredients is not None else []
            placed = ingredients.placed if ingredients is not None else placed
            try:
                builder = self._builder(recipe, suffix, usable, placed, source_type, archives)
            except Exception as exc:  # noqa: BLE001 - an unreadable source shortens the chain, never unsigns
                log.warning("ingredients left out: %s", _one_line(exc))
                builder = self._builder(recipe, suffix, [], placed, source_type)
            out = io.BytesIO()
            if suffix in EMBEDDED_MIME:
                builder.sign(signer, EMBEDDED_MIME[suffix], io.BytesIO(data), out)
                return SignResult(out.getvalue(), signed=True, signer=identity.subject)
            builder.set_no_embed()
            manifest = builder.sign(signer, "application/zip", io.BytesIO(_binding_zip(data)), out)
            return SignResult(data, sidecar=bytes(manifest), signed=True, signer=identity.subject)
        finally:
            with contextlib.suppress(Exception):
                signer.close()

    def _builder(self, recipe: dict[str, Any], suffix: str, sources: list[tuple[Path, str]], placed: bool,
                 source_type: str = SOURCE_TYPE, archives: list[tuple[str, bytes]] = ()):
        import c2pa

        labels = [label for _path, label in sources] + [label for label, _archive in archives]
        builder = c2pa.Builder(manifest_definition(recipe, suffix, labels, placed, source_type),
                               context=self._context())
        for index, (source, label) in enumerate(sources):
            relationship = "componentOf" if placed or index else "parentOf"
            with open(source, "rb") as handle:
                builder.add_ingredient({"title": source.name, "relationship": relationship, "label": label},
                                       EMBEDDED_MIME[source.suffix.lower()], handle)
        for _label, archive in archives:
            builder.add_ingredient_from_archive(io.BytesIO(archive))
        return builder

    def ingredients(self, sources: Iterable[Path | str], placed: bool = False) -> Ingredients:
        """``sources`` read once, for signing many files made from them (the
        frames of a PNG sequence): C2PA reads and checks a whole source to
        make it an ingredient, which for a long clip costs far more than
        signing a frame, so each is kept as a one-ingredient archive that
        every manifest takes as it is. A source that cannot be read is left
        out (a shorter chain, never an unsigned file)."""
        usable = _usable_sources([Path(s) for s in sources if s])
        archives: list[tuple[str, bytes]] = []
        if usable and self.enabled:
            builder = None
            try:
                builder = self._builder({}, ".png", usable, placed)
                for _source, label in usable:
                    out = io.BytesIO()
                    builder.write_ingredient_archive(label, out)
                    archives.append((label, out.getvalue()))
            except Exception as exc:  # noqa: BLE001 - an unreadable source shortens the chain, never unsigns
                log.warning("ingredients left out: %s", _one_line(exc))
                archives = []
            finally:
                if builder is not None:
                    with contextlib.suppress(Exception):
                        builder.close()
        return Ingredients(archives, placed)

    def sign_file(self, path: Path, recipe: dict[str, Any], sources: Iterable[Path | str] = (),
                  placed: bool = False) -> SignResult:
        """Sign a file in place (used by exporters on their temp file, before its
        rename): the signed bytes replace it atomically; a sidecar is written
        beside it. The result's ``data`` is left empty."""
        from studio.core.atomic import atomic_write_bytes

        path = Path(path)
        suffix = path.suffix.lower()
        if not self.enabled:
            return SignResult(b"")
        result = self.sign_bytes(path.read_bytes(), suffix, recipe, sources, placed)
        if result.signed:
            if result.sidecar is not None:
                atomic_write_bytes(sidecar_path(path), result.sidecar)
            else:
                atomic_write_bytes(path, result.data)
        result.data = b""
        return result


@dataclass
class Ingredients:
    """Sources prepared once for many manifests (``ContentCredentials.ingredients``)."""

    archives: list[tuple[str, bytes]]  # (label, one-ingredient C2PA archive)
    placed: bool = False


def manifest_definition(recipe: dict[str, Any], suffix: str, ingredient_ids: list[str],
                        placed: bool, source_type: str = SOURCE_TYPE) -> dict[str, Any]:
    agent = {"name": "Studio", "version": __version__}
    model = model_info(recipe)
    created: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": agent}
    if model:
        created["parameters"] = {"model": model}
    actions: list[dict[str, Any]] = []
    if ingredient_ids and not placed:
        actions.append({"action": "c2pa.opened", "softwareAgent": agent,
                        "parameters": {"ingredientIds": ingredient_ids[:1]}})
        edited = {"action": "c2pa.edited", "digitalSourceType": source_type, "softwareAgent": agent,
                  "parameters": {"model": model} if model else {}}
        if len(ingredient_ids) > 1:
            edited["parameters"]["ingredientIds"] = ingredient_ids[1:]
        actions.append(edited)
    else:
        actions.append(created)
        for ingredient in ingredient_ids:
            actions.append({"action": "c2pa.placed", "softwareAgent": agent,
                            "parameters": {"ingredientIds": [ingredient]}})
    return {
        "claim_generator_info": [agent],
        "title": recipe.get("title") or f"Studio artifact{suffix}",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": RECIPE_LABEL, "data": json.loads(json.dumps(recipe, default=str))},
        ],
    }


def model_info(recipe: dict[str, Any]) -> dict[str, str]:
    """The model's name, hash and licence as far as the recipe knows them."""
    model = recipe.get("model")
    found: dict[str, str] = {}
    if isinstance(model, dict):
        for key, name in (("name", "name"), ("id", "id"), ("hash", "hash"), ("licence", "licence"),
                          ("license", "licence")):
            if model.get(key):
                found.setdefault(name, str(model[key]))
    elif isinstance(model, str) and model:
        found["name"] = model
    request = recipe.get("request") or {}
    if not found.get("id") and isinstance(request, dict) and request.get("model_id"):
        found["id"] = str(request["model_id"])
    for key in ("model_hash", "licence"):
        if recipe.get(key) and key.replace("model_", "") not in found:
            found[key.replace("model_", "")] = str(recipe[key])
    return found


def sources_of(recipe: dict[str, Any]) -> tuple[list[str], bool]:
    """The files an artifact was made from, and whether they were placed
    (the clips of a timeline) rather than edited (one parent)."""
    request = recipe.get("request") or {}
    request = request if isinstance(request, dict) else {}
    timeline = [str(s) for s in recipe.get("sources") or [] if s]
    if timeline:
        return timeline, True
    found = []
    for key in ("init_image", "source", "mask"):  # the parent first; an inpainting mask is a component
        value = request.get(key) or (recipe.get(key) if isinstance(recipe.get(key), str) else "")
        if value:
            found.append(str(value))
    return found, False


def _usable_sources(sources: list[Path]) -> list[tuple[Path, str]]:
    """The sources C2PA can take as ingredients (files of a format it reads), labelled."""
    usable = []
    for index, source in enumerate(sources):
        source = Path(source).expanduser()
        if source.suffix.lower() in EMBEDDED_MIME and source.is_file():
            usable.append((source, f"ingredient-{index}"))
    return usable


def _binding_zip(data: bytes) -> bytes:
    """A fixed one-entry ZIP of ``data``: the same bytes give the same archive,
    so a sidecar's hash can be checked against the file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        entry = zipfile.ZipInfo("artifact", date_time=_BINDING_DATE)
        entry.external_attr = 0o644 << 16
        archive.writestr(entry, data)
    return buffer.getvalue()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# --- reading ---------------------------------------------------------------

@dataclass
class Credentials:
    """What ``read_credentials`` found in (or beside) a file."""

    state: str  # "valid", "untrusted", "tampered", "none"
    reason: str = ""
    signer: str = ""
    issuer: str = ""
    signed_at: str = ""
    generator: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] | None = None
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    sidecar: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.state != "none"

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "signer": self.signer, "issuer": self.issuer,
                "signed_at": self.signed_at, "generator": self.generator, "actions": self.actions,
                "model": self.model, "ingredients": self.ingredients, "sidecar": self.sidecar}

    def lines(self) -> list[str]:
        """A readable account for ``studio info`` and the Library."""
        if not self.present:
            return ["Content Credentials: none" + (f" ({self.reason})" if self.reason else "")]
        label = {"valid": "valid", "untrusted": "valid signature, untrusted signer",
                 "tampered": "TAMPERED"}[self.state]
        out = [f"Content Credentials: {label}" + (f" - {self.reason}" if self.reason else "")]
        out.append(f"  signed by:   {self.signer or '?'}" + (f" (issuer {self.issuer})" if self.issuer else ""))
        if self.signed_at:
            out.append(f"  signed at:   {self.signed_at}")
        if self.generator:
            out.append(f"  generator:   {self.generator}")
        if self.sidecar:
            out.append("  manifest:    sidecar (.c2pa)")
        for action in self.actions:
            extra = " (" + action["source_type"].rsplit("/", 1)[-1] + ")" if action.get("source_type") else ""
            out.append(f"  action:      {action['action']}{extra}")
        if self.model:
            out.append("  model:       " + ", ".join(f"{k} {v}" for k, v in self.model.items()))
        if self.recipe is not None:
            out.append("  recipe:      present (" + RECIPE_LABEL + ")")
        for ingredient in self.ingredients:
            state = ingredient.get("state") or "no credentials"
            out.append(f"  ingredient:  {ingredient['title']} [{ingredient['relationship']}] {state}")
        return out


def trust_anchors(config: Path | None) -> str:
    """PEM of the CAs this installation trusts: its own local CA and the root
    of an imported chain."""
    if config is None:
        return ""
    from studio.core.credentials.certs import load_identity

    try:
        identity = load_identity(config, create=False)
    except (StudioError, OSError):
        return ""
    return identity.trust_anchor_pem.decode("ascii", "replace")


def read_credentials(path: Path, config: Path | None = None, anchors: str | None = None) -> Credentials:
    """The Content Credentials of ``path`` (embedded, or in its ``.c2pa``
    sidecar), checked against this installation's trust anchors."""
    try:
        import c2pa
    except ImportError:
        return Credentials("none", "c2pa-python is not installed")
    path = Path(path)
    anchors = trust_anchors(config) if anchors is None else anchors
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    context = c2pa.Context.from_dict(settings)
    suffix = path.suffix.lower()
    sidecar = sidecar_path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StudioError(f"cannot read {path}: {exc.strerror or exc}") from None
    reader = None
    try:
        if suffix in EMBEDDED_MIME:
            reader = c2pa.Reader.try_create(EMBEDDED_MIME[suffix], io.BytesIO(data), context=context)
        if reader is None and sidecar.exists():
            reader = c2pa.Reader("application/zip", io.BytesIO(_binding_zip(data)),
                                 manifest_data=sidecar.read_bytes(), context=context)
            found = _from_reader(reader, c2pa)
            found.sidecar = True
            return found
    except Exception as exc:  # noqa: BLE001 - a broken manifest store is itself a finding
        return Credentials("tampered", f"the manifest cannot be read: {_one_line(exc)}")
    if reader is None:
        return Credentials("none")
    return _from_reader(reader, c2pa)


def _from_reader(reader, c2pa) -> Credentials:
    try:
        store = json.loads(reader.json())
    finally:
        with contextlib.suppress(Exception):
            reader.close()
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = results.get("failure") or []
    state_name = store.get("validation_state", "")
    untrusted = [f for f in failures if f.get("code", "").startswith("signingCredential.untrusted")]
    hard = [f for f in failures if f not in untrusted]
    if state_name == "Invalid" and hard:
        state, reason = "tampered", "; ".join(f"{f.get('code')}: {f.get('explanation', '')}" for f in hard[:3])
    elif state_name == "Trusted":
        state, reason = "valid", ""
    else:
        state, reason = "untrusted", "the signing certificate is not one this installation trusts"
    signature = active.get("signature_info") or {}
    found = Credentials(state, reason, signer=str(signature.get("common_name", "")),
                        issuer=str(signature.get("issuer", "")), signed_at=str(signature.get("time", "")),
                        manifest=active)
    generators = active.get("claim_generator_info") or []
    if generators:
        found.generator = " ".join(str(generators[0].get(k, "")) for k in ("name", "version")).strip()
    for assertion in active.get("assertions", []):
        label = assertion.get("label", "")
        if label.startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                found.actions.append({"action": action.get("action", ""),
                                      "source_type": action.get("digitalSourceType", "")})
                model = (action.get("parameters") or {}).get("model")
                if isinstance(model, dict) and not found.model:
                    found.model = model
        elif label == RECIPE_LABEL:
            found.recipe = assertion.get("data")
    for ingredient in active.get("ingredients", []):
        ingredient_state = ingredient.get("validation_status") or []
        found.ingredients.append({
            "title": ingredient.get("title", "?"), "relationship": ingredient.get("relationship", ""),
            "state": "credentials" if ingredient.get("active_manifest") or ingredient.get("manifest_data")
            else "", "problems": [s.get("code") for s in ingredient_state if s.get("code")],
        })
    return found


# --- files written outside the library ---------------------------------------

def write_signed(path: Path, data: bytes, recipe: dict[str, Any], sources: Iterable[Path | str] = (),
                 placed: bool = False, *, source_type: str = SOURCE_TYPE,
                 signing: ContentCredentials | None = None) -> str:
    """Write ``data`` to ``path`` (atomically) with its Content Credentials:
    the manifest inside for the formats C2PA holds, a ``<file>.c2pa`` sidecar
    beside the others (text, JSON, MIDI, OTIO). For every file Studio saves
    outside the library: exports and the files saved from the window.

    Signs with ``signing``, else the process's policy (``current()``); with
    none, or signing off, the bytes go as given. Returns "" or a one-line
    warning saying why the file carries no credentials; the file is written
    either way (a failure never loses it)."""
    return _store(Path(path), data, recipe, sources, placed, source_type, signing, written=False)


def sign_written(path: Path, recipe: dict[str, Any], sources: Iterable[Path | str] = (), placed: bool = False,
                 *, source_type: str = SOURCE_TYPE, signing: ContentCredentials | None = None) -> str:
    """``write_signed`` for a file another writer has just put at ``path``
    (a PNG Qt saved, a copied folder's frame): signed in place."""
    path = Path(path)
    signing = signing if signing is not None else current()
    if signing is None or not signing.enabled:
        _drop_sidecar(path)
        return ""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"Content Credentials: not signed: cannot read {path.name} ({exc.strerror or exc})"
    return _store(path, data, recipe, sources, placed, source_type, signing, written=True)


def _store(path: Path, data: bytes, recipe: dict[str, Any], sources: Iterable[Path | str], placed: bool,
           source_type: str, signing: ContentCredentials | None, written: bool) -> str:
    from studio.core.atomic import atomic_write_bytes

    signing = signing if signing is not None else current()
    result = SignResult(data)
    if signing is not None and signing.enabled:
        result = signing.sign_bytes(data, path.suffix, recipe, sources, placed, source_type=source_type)
    if result.sidecar is not None:  # the sidecar first: its file, when it lands, is already vouched for
        atomic_write_bytes(sidecar_path(path), result.sidecar)
    else:
        _drop_sidecar(path)  # an earlier file's manifest would call this one tampered
    if not written or result.data is not data:
        atomic_write_bytes(path, result.data)
    return f"Content Credentials: {result.error}" if result.error else ""


def _drop_sidecar(path: Path) -> None:
    with contextlib.suppress(OSError):
        sidecar_path(path).unlink()


class SequenceSigner:
    """Signs the files of a sequence made from the same sources (the frames
    of a PNG sequence export): the sources are read once, each file gets its
    own manifest and recipe. After a failure the rest are written unsigned
    (their plain recipes kept) and ``error`` says why."""

    def __init__(self, signing: ContentCredentials, sources: Iterable[Path | str] = (), placed: bool = False):
        self.signing = signing
        self.ingredients = signing.ingredients(sources, placed)
        self.error = ""

    def sign(self, data: bytes, suffix: str, recipe: dict[str, Any]) -> bytes:
        if self.error:
            return data
        result = self.signing.sign_bytes(data, suffix, recipe, ingredients=self.ingredients)
        if result.error:
            self.error = result.error
        return result.data


def sequence_signer(recipe: dict[str, Any] | None) -> SequenceSigner | None:
    """A ``SequenceSigner`` for files made with ``recipe`` (its sources as
    ingredients), when this process signs; None otherwise."""
    signing = current()
    if recipe is None or signing is None or not signing.enabled:
        return None
    sources, placed = sources_of(recipe)
    return SequenceSigner(signing, sources, placed)


_current: ContentCredentials | None = None


def configure(credentials: ContentCredentials | None) -> None:
    """Set the process's signing policy (the services do, on opening)."""
    global _current
    _current = credentials


def current() -> ContentCredentials | None:
    """The process's signing policy; None where nothing configured one (bare tests)."""
    return _current
