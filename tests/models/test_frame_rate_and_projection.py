"""The encoder meets one frame rate in training and at inference; the projection head is for the loss only;
per-video standardisation is ASOT's -s."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidalign.data.augment import AugmentConfig
from vidalign.data.sampling import PairSampler, SamplingConfig
from vidalign.models import model as model_module
from vidalign.models.heads import EncoderConfig, encoder_stride, per_video_standardize
from vidalign.models.model import VidalignModel


def _model(**encoder) -> VidalignModel:
    torch.manual_seed(0)
    config = EncoderConfig(in_dim=6, hidden=16, out_dim=8, n_layers=2, dropout=0.0, **encoder)
    return VidalignModel("vaot", config, {}).eval()


def test_a_2000_frame_video_is_embedded_at_the_training_frame_rate():
    """max_frames 512: training strides a 2,000-frame video by 4 (one random phase); inference embeds every phase
    as its own stride-4 sequence, so frame f's embedding is the encoder's output on frames f % 4 :: 4. Embedding all
    2,000 frames in one sequence (the former behaviour) gives a conv encoder a 4x shorter receptive field."""
    model = _model(kind="conv", max_frames=512)
    features = np.random.default_rng(0).standard_normal((2000, 6)).astype(np.float32)
    assert encoder_stride(2000, 512) == 4
    embedded = model.embed(features)
    assert embedded.shape == (2000, 8)
    with torch.no_grad():
        for offset in range(4):
            phase = model.encoder(torch.from_numpy(features[offset::4])[None])[0].numpy()
            np.testing.assert_allclose(embedded[offset::4], phase, rtol=1e-5, atol=1e-6)
        full_rate = model.encoder(torch.from_numpy(features)[None])[0].numpy()
    assert np.abs(full_rate - embedded).max() > 0.1
    sampler = PairSampler([features, features[:700]], "cross_video", SamplingConfig(), AugmentConfig(), seed=0)
    view = sampler.whole_video(0, np.random.default_rng(1))
    assert len(view.features) == 500 and np.all(np.diff(view.positions) == 4)  # the same stride in training


def test_short_videos_are_embedded_whole_and_unlimited_encoders_never_stride():
    model = _model(kind="conv", max_frames=512)
    features = np.random.default_rng(1).standard_normal((300, 6)).astype(np.float32)
    with torch.no_grad():
        whole = model.encoder(torch.from_numpy(features)[None])[0].numpy()
    np.testing.assert_allclose(model.embed(features), whole, rtol=1e-5, atol=1e-6)
    assert encoder_stride(10_000, None) == 1


def test_projection_head_serves_the_loss_and_not_the_embedding():
    model = _model(kind="conv", projection=16)
    x = torch.randn(2, 30, 6)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 20:] = False
    plain, projected = model.encoder(x, mask), model.encoder(x, mask, project=True)
    assert not torch.allclose(plain, projected)
    torch.testing.assert_close(projected.norm(dim=-1)[mask], torch.ones(int(mask.sum())))
    assert projected[1, 20:].abs().sum() == 0
    np.testing.assert_allclose(model.embed(x[0].numpy()), plain[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert sum("projection" in name for name, _ in model.named_parameters()) == 6  # 2 linear + batch norm


def test_per_video_standardisation_is_asot_s_option():
    """Per video and channel z-score over the non-zero real frames, zero frames kept at 0, then / sqrt(D)."""
    rng = np.random.default_rng(2)
    video = rng.standard_normal((12, 5)) * 3 + 7
    video[4] = 0.0  # an all-zero frame: excluded from the statistics, stays 0
    real = np.ones(12, bool)
    real[4] = False
    expected = np.zeros_like(video)
    expected[real] = (video[real] - video[real].mean(0)) / video[real].std(0) / np.sqrt(5)
    x = torch.from_numpy(np.concatenate([video, np.full((3, 5), 9.0)]))[None]  # + 3 padded frames
    mask = torch.arange(15)[None] < 12
    out = per_video_standardize(x, mask)[0].numpy()
    np.testing.assert_allclose(out[:12], expected, rtol=1e-10, atol=1e-12)
    assert np.all(out[12:] == 0)


@pytest.mark.parametrize(
    ("encoder", "radius"),
    [
        ({"kind": "conv", "kernel_size": 5, "dilation_growth": 2}, 2 + 4),
        ({"kind": "transformer", "attention_window": 7}, 14),
        ({"kind": "mlp", "standardize": "video"}, 0),
        ({"kind": "conv", "standardize": "video"}, 6),
    ],
)
def test_long_videos_are_embedded_in_chunks_that_change_nothing(encoder, radius, monkeypatch):
    """A 3,000-frame video at full rate (max_frames None) in chunks of 256 with exact context equals the whole
    sequence embedded at once; no encoder call sees more than 256 + 2 * radius frames."""
    model = _model(max_frames=None, **encoder)
    assert model.encoder.receptive_radius() == radius
    features = np.random.default_rng(2).standard_normal((3000, 6)).astype(np.float32) * 3 + 1
    with torch.no_grad():
        whole = model.encoder(torch.from_numpy(features)[None])[0].numpy()
    seen = []
    body = model.encoder.body
    monkeypatch.setattr(model.encoder, "body", lambda h, mask: seen.append(h.shape[1]) or body(h, mask))
    monkeypatch.setattr(model_module, "CHUNK_FRAMES", 256)
    np.testing.assert_allclose(model.embed(features), whole, rtol=1e-4, atol=1e-5)
    assert len(seen) == 12 and max(seen) <= 256 + 2 * radius


def test_global_attention_is_never_chunked():
    model = _model(kind="transformer", positional_encoding=True, max_frames=None)
    assert model.encoder.receptive_radius() is None
    x = torch.randn(1, 600, 6)
    with torch.no_grad():
        torch.testing.assert_close(model.encoder.embed_in_chunks(x, 100), model.encoder(x))
