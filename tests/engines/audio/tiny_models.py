"""Tiny audio models with random weights and the real architectures, saved
to a folder the way a user's download looks, so the engines load them
through discovery and the same loading code as a real model.

Each builder writes into ``folder / name`` and returns that path."""

from __future__ import annotations

import io
import json
from pathlib import Path

CHARACTERS = list(" abcdefghijklmnopqrstuvwxyz'.,!?")


def vits(folder: Path, name: str = "tiny-vits") -> Path:
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    path = folder / name
    path.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(["<pad>", "<unk>", *CHARACTERS])}
    (path / "vocab.json").write_text(json.dumps(vocab))
    VitsTokenizer(str(path / "vocab.json"), add_blank=True, phonemize=False).save_pretrained(path)
    config = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, window_size=2, ffn_dim=32,
        flow_size=8, spectrogram_bins=17, upsample_initial_channel=16, upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1, prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1, duration_predictor_filter_channels=16, depth_separable_num_layers=1,
        sampling_rate=16_000)
    torch.manual_seed(0)
    VitsModel(config).save_pretrained(path)
    return path


def speecht5(folder: Path, name: str = "tiny-speecht5", embedding_dim: int = 12) -> Path:
    """SpeechT5 with a character sentencepiece tokenizer and its HiFi-GAN
    vocoder in a ``vocoder`` sub-folder, as Studio looks for it."""
    import sentencepiece
    import torch
    from transformers import (
        SpeechT5Config,
        SpeechT5ForTextToSpeech,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        SpeechT5Tokenizer,
    )

    path = folder / name
    path.mkdir(parents=True, exist_ok=True)
    model_file = io.BytesIO()
    text = ["the quick brown fox jumps over the lazy dog", "hello world, is this a test?"] * 20
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(text), model_writer=model_file, vocab_size=40, model_type="char",
        character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2)
    (path / "spm_char.model").write_bytes(model_file.getvalue())
    tokenizer = SpeechT5Tokenizer(str(path / "spm_char.model"))
    tokenizer.save_pretrained(path)
    config = SpeechT5Config(
        vocab_size=tokenizer.vocab_size + 1, hidden_size=16, encoder_layers=1, encoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
        speech_decoder_prenet_units=16, speech_decoder_postnet_units=16, speech_decoder_postnet_layers=2,
        speech_decoder_postnet_kernel=3, num_mel_bins=8, speaker_embedding_dim=embedding_dim, reduction_factor=2,
        max_speech_positions=256, max_text_positions=64, encoder_max_relative_position=16,
        pad_token_id=1, bos_token_id=0, eos_token_id=2)
    torch.manual_seed(0)
    SpeechT5ForTextToSpeech(config).save_pretrained(path)
    SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, sampling_rate=16_000, upsample_initial_channel=16, upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False)).save_pretrained(path / "vocoder")
    return path


def xvector(folder: Path, name: str = "tiny-wavlm-sv", embedding_dim: int = 12) -> Path:
    """A speaker-verification model (WavLM x-vectors), what voice cloning uses."""
    import torch
    from transformers import WavLMConfig, WavLMForXVector

    path = folder / name
    torch.manual_seed(1)
    WavLMForXVector(WavLMConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
        tdnn_dim=(8, 8), tdnn_kernel=(3, 1), tdnn_dilation=(1, 1), xvector_output_dim=embedding_dim,
        num_buckets=16, max_bucket_distance=32)).save_pretrained(path)
    return path


def musicgen(folder: Path, name: str = "tiny-musicgen") -> Path:
    """MusicGen with a tiny T5 text encoder, EnCodec at 8 kHz / 125 frames
    a second, and a word-level tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        PreTrainedTokenizerFast,
        T5Config,
    )

    path = folder / name
    words = ["<pad>", "</s>", "<unk>", "calm", "piano", "drums", "fast", "music"]
    backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(path)
    text = T5Config(vocab_size=len(words), d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8,
                    decoder_start_token_id=0, pad_token_id=0)
    audio = EncodecConfig(hidden_size=16, num_filters=4, num_residual_layers=1, upsampling_ratios=[8, 8],
                          codebook_size=32, codebook_dim=16, num_lstm_layers=1, sampling_rate=8_000,
                          target_bandwidths=[2.5], audio_channels=1)
    decoder = MusicgenDecoderConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    ffn_dim=32, num_codebooks=audio.num_quantizers, max_position_embeddings=512,
                                    pad_token_id=32, bos_token_id=32, decoder_start_token_id=32)
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict()))
    for key in ("pad_token_id", "decoder_start_token_id", "bos_token_id"):
        setattr(model.generation_config, key, 32)
    model.save_pretrained(path)
    return path


def audioldm(folder: Path, name: str = "tiny-audioldm") -> Path:
    """An AudioLDM pipeline (CLAP text encoder, UNet, VAE, HiFi-GAN vocoder
    at 16 kHz) with a byte-level BPE tokenizer of single bytes."""
    import torch
    from diffusers import AudioLDMPipeline, AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (
        ClapTextConfig,
        ClapTextModelWithProjection,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    path = folder / name
    vocab_dir = folder / f".{name}-vocab"  # a hidden folder: discovery skips it
    vocab_dir.mkdir(parents=True, exist_ok=True)
    symbols = ["<s>", "<pad>", "</s>", "<unk>", *sorted(ByteLevel.alphabet()), "<mask>"]
    (vocab_dir / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(symbols)}))
    (vocab_dir / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    pipe = AudioLDMPipeline(
        vae=AutoencoderKL(block_out_channels=[8, 16], in_channels=1, out_channels=1, norm_num_groups=8,
                          down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                          latent_channels=4),
        text_encoder=ClapTextModelWithProjection(ClapTextConfig(
            bos_token_id=0, eos_token_id=2, hidden_size=8, intermediate_size=37, layer_norm_eps=1e-05,
            num_attention_heads=1, num_hidden_layers=1, pad_token_id=1, vocab_size=len(symbols), projection_dim=8)),
        tokenizer=RobertaTokenizer(str(vocab_dir / "vocab.json"), str(vocab_dir / "merges.txt"), model_max_length=77),
        unet=UNet2DConditionModel(
            block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8, sample_size=32, in_channels=4,
            out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=(8, 16),
            class_embed_type="simple_projection", projection_class_embeddings_input_dim=8,
            class_embeddings_concat=True),
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                clip_sample=False, set_alpha_to_one=False),
        vocoder=SpeechT5HifiGan(SpeechT5HifiGanConfig(
            model_in_dim=8, sampling_rate=16_000, upsample_initial_channel=16, upsample_rates=[2, 2],
            upsample_kernel_sizes=[4, 4], resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
            normalize_before=False)),
    )
    pipe.save_pretrained(path)
    return path
