"""The A1111 prompt syntax and the ``parameters`` text, without any model."""

from __future__ import annotations

import pytest

from studio.core.jobs import StudioError
from studio.engines.image.parameters import format_parameters, parse_parameters, request_from_parameters
from studio.engines.image.prompts import Fragment, extract_loras, merge_loras, parse_weighted, plain_text
from studio.engines.image.requests import ImageRequest, snap8


@pytest.mark.parametrize("prompt, expected", [
    ("a cat", [("a cat", 1.0)]),
    ("(a cat:1.3), dog", [("a cat", 1.3), (", dog", 1.0)]),
    ("((red)) [blue]", [("red", 1.21), (" ", 1.0), ("blue", 0.909091)]),
    ("((a):1.5)", [("a", 1.65)]),
    (r"\(literal\) (x", [("(literal) ", 1.0), ("x", 1.1)]),
    ("(unclosed", [("unclosed", 1.1)]),
    ("x ] y", [("x ] y", 1.0)]),
    ("(a:0.5) (b:0.5)", [("a", 0.5), (" ", 1.0), ("b", 0.5)]),
])
def test_attention_weights(prompt, expected):
    assert [(f.text, f.weight) for f in parse_weighted(prompt)] == expected


def test_break_starts_a_new_chunk():
    fragments = parse_weighted("sky BREAK (sea:1.2)")
    assert [f.is_break for f in fragments] == [False, True, False]
    assert fragments[2] == Fragment("sea", 1.2)


def test_lora_tags_are_taken_out_with_their_weights():
    text, loras = extract_loras("<lora:ink wash:0.7> a heron, <LORA:paper> mist <lyco:grain:0.25:0.1>")
    assert text == "a heron, mist"
    assert loras == [("ink wash", 0.7), ("paper", 1.0), ("grain", 0.25)]
    assert merge_loras(loras, [("paper", 0.4), ("extra", 1.0)]) == [
        ("ink wash", 0.7), ("paper", 0.4), ("grain", 0.25), ("extra", 1.0)]
    assert plain_text("(a red:1.4) <lora:x:1> [cube]") == "a red cube"


def test_request_validation_messages():
    assert snap8(513) == 512 and snap8(516) == 520 and snap8(3) == 8
    with pytest.raises(StudioError, match="prompt is empty"):
        ImageRequest(prompt="  ").validate()
    with pytest.raises(StudioError, match="multiple of 8"):
        ImageRequest(prompt="x", width=500).validate()
    with pytest.raises(StudioError, match="needs an init image"):
        ImageRequest(prompt="x", mode="img2img").validate()
    with pytest.raises(StudioError, match="init image not found"):
        ImageRequest(prompt="x", mode="img2img", init_image="/nowhere.png").validate()
    with pytest.raises(StudioError, match="unknown scheduler"):
        ImageRequest(prompt="x", scheduler="Heun++").validate()
    with pytest.raises(StudioError, match="LoRA entry"):
        ImageRequest(prompt="x", loras=(("only-a-name",),))
    # JSON turns the pairs into lists: the request still compares equal.
    assert ImageRequest(prompt="x", loras=[["ink", 1]]) == ImageRequest(prompt="x", loras=(("ink", 1.0),))


def test_parameters_round_trip_through_the_a1111_text():
    request = ImageRequest(prompt="a lighthouse, (fog:1.2)", negative="blurry, text", steps=31, cfg=6.5,
                           seed=1234, width=640, height=448, scheduler="DPM++ 2M Karras",
                           loras=(("inkwash", 0.8),), hires_fix=True, hires_scale=1.5, hires_strength=0.4)
    text = format_parameters(request, seed=1234, width=960, height=672, sampler="DPM++ 2M Karras",
                             model_name="dreamy v2", model_hash="6ce0161689", loras=list(request.loras),
                             version="Studio 0.1.0")
    lines = text.split("\n")
    assert lines[0] == "a lighthouse, (fog:1.2) <lora:inkwash:0.8>"
    assert lines[1] == "Negative prompt: blurry, text"
    assert "Size: 960x672" in lines[2] and "Model hash: 6ce0161689" in lines[2] and "Hires upscale: 1.5" in lines[2]
    restored, settings = request_from_parameters(text)
    assert settings["Model"] == "dreamy v2"
    assert (restored.steps, restored.cfg, restored.seed, restored.scheduler) == (31, 6.5, 1234, "DPM++ 2M Karras")
    assert restored.negative == "blurry, text" and restored.prompt.startswith("a lighthouse, (fog:1.2)")
    assert (restored.hires_fix, restored.hires_scale, restored.hires_strength) == (True, 1.5, 0.4)


def test_reading_a1111_text_with_quotes_and_schedule_type():
    text = ('masterpiece, 1girl\nwith a second prompt line\nNegative prompt: lowres\n'
            'Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3954316142, '
            'Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, '
            'Lora hashes: "add_detail: 7c6bad76eb54, ink: 0123", Version: v1.10.1')
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "masterpiece, 1girl\nwith a second prompt line"
    assert parsed["settings"]["Lora hashes"] == "add_detail: 7c6bad76eb54, ink: 0123"
    request, _ = request_from_parameters(text)
    assert (request.width, request.height, request.seed) == (512, 768, 3954316142)
    assert request.scheduler == "DPM++ 2M Karras"
