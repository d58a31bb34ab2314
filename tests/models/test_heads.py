"""Frame embedders: shapes, masks, batch independence (the LAC batch_first bug), no absolute-time leakage."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vidalign.models.heads import EncoderConfig, build_encoder, replicate_beyond_length

KINDS = [("mlp", False), ("conv", False), ("transformer", False), ("transformer", True)]


def make(kind: str, pe: bool, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    config = EncoderConfig(kind=kind, in_dim=6, hidden=32, n_layers=2, n_heads=4, positional_encoding=pe, **kw)
    return build_encoder(config).eval()


@pytest.mark.parametrize(("kind", "pe"), KINDS)
def test_output_shape_norm_and_padding(kind, pe):
    model = make(kind, pe)
    x = torch.randn(3, 40, 6)
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[1, 25:] = False
    z = model(x, mask)
    assert z.shape == (3, 40, 128)
    torch.testing.assert_close(z[mask].norm(dim=-1), torch.ones(int(mask.sum())))
    assert torch.all(z[~mask] == 0)
    # a padded item embeds exactly like the cropped video alone
    torch.testing.assert_close(z[1, :25], model(x[1:2, :25])[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("kind", "pe"), KINDS)
def test_items_of_a_batch_never_mix(kind, pe):
    """Regression for the published LAC encoder (nn.TransformerEncoder without batch_first): attention ran over
    the batch axis, so a video's embedding changed with the other videos of its batch."""
    model = make(kind, pe)
    x = torch.randn(4, 30, 6)
    z = model(x)
    x2 = x.clone()
    x2[0] = torch.randn(30, 6)
    torch.testing.assert_close(model(x2)[1:], z[1:])


def test_default_encoders_do_not_see_absolute_position():
    """docs/methods.md "Time leakage": the conv embedder is translation-equivariant, so prepending unrelated frames
    shifts the embedding of every frame beyond the receptive radius exactly - it carries no frame index."""
    model = make("conv", False, kernel_size=3)  # radius (3 - 1) / 2 * (1 + 2) = 3 frames over the two blocks
    x = torch.randn(1, 30, 6)
    shifted = model(torch.cat([torch.randn(1, 7, 6), x], dim=1))[:, 7:]
    z = model(x)
    torch.testing.assert_close(shifted[:, 3:], z[:, 3:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(shifted[:, :3], z[:, :3])  # the frames that do see the prefix


def test_local_attention_is_translation_equivariant_away_from_the_ends():
    model = make("transformer", False, attention_window=3)
    x = torch.randn(1, 40, 6)
    prefix = torch.randn(1, 7, 6)
    z, shifted = model(x), model(torch.cat([prefix, x], dim=1))[:, 7:]
    reach = 3 * 2  # window x layers: frames further than this from the start see no prefix frame
    torch.testing.assert_close(shifted[:, reach:], z[:, reach:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(shifted[:, :reach], z[:, :reach])


def test_positional_encoding_makes_identical_frames_distinguishable():
    x = torch.ones(1, 20, 6)
    with_pe, without = make("transformer", True)(x), make("transformer", False)(x)
    assert torch.cdist(with_pe[0], with_pe[0]).max() > 1e-2  # position is visible
    assert torch.cdist(without[0], without[0]).max() < 1e-5  # nothing but content


def test_replicate_beyond_length_uses_each_items_last_real_frame():
    h = torch.arange(10.0).view(1, 1, 10).repeat(2, 1, 1)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    out = replicate_beyond_length(h, mask, 2)
    assert out[0, 0].tolist() == [0, 0, *range(10), 9, 9]
    assert out[1, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5]


def test_input_standardisation_is_fitted_and_saved_as_buffers():
    model = make("mlp", False)
    frames = torch.randn(100, 6) * 3 + 2
    model.fit_input_stats([frames[:50], frames[50:]])
    torch.testing.assert_close(model.input_mean, frames.mean(0))
    assert {"input_mean", "input_std"} <= set(model.state_dict())


def test_global_standardisation_keeps_the_feature_geometry():
    config = EncoderConfig(kind="mlp", in_dim=3, hidden=8, n_layers=1, standardize="global")
    model = build_encoder(config)
    frames = torch.stack([torch.randn(200) * 4.0, torch.randn(200), torch.full((200,), 0.5)], dim=1)
    model.fit_input_stats(frames)
    std = frames.std(0, unbiased=False)
    torch.testing.assert_close(model.input_std, std.mean().expand(3))  # the constant channel is not amplified
    per_channel = build_encoder(dataclasses.replace(config, standardize="channel"))
    per_channel.fit_input_stats(frames)
    assert per_channel.input_std[2] == 1e-6  # what per-channel scaling would do to it
    with pytest.raises(ValueError, match="standardize"):
        EncoderConfig.from_dict({"kind": "mlp", "standardize": "robust"})


def test_config_round_trip_and_unknown_options():
    config = EncoderConfig(kind="conv", in_dim=5)
    assert EncoderConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown encoder option"):
        EncoderConfig.from_dict({"kind": "conv", "in_dim": 5, "depth": 3})
    with pytest.raises(ValueError, match="unknown encoder kind"):
        build_encoder(EncoderConfig(kind="lstm", in_dim=5))
