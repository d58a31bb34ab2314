"""The frame backbone as a trainable part of the model (``docs/finetune.md``, What is trained).

:class:`TrainableBackbone` wraps an EfficientNet-Lite0 backbone of :mod:`vidalign.models.backbones` (pooled or
grid) and trains a copy of its network: the stem and first blocks stay frozen and run without gradients (through
the backbone's inference copy, batch norms folded); the last ``train_blocks`` MBConv blocks and the head convolution
learn. Batch-norm statistics stay those of the pretrained network and the network stays in eval mode (no stochastic
depth): a batch holds few videos of strongly correlated frames, whose statistics would replace ImageNet's with one
scene's. The inference copy belongs to the backbone, not to this module: build the backbone on the device it
trains on (as ``vidalign finetune`` does), since moving this module moves only the trained copy. The fine-tuned
network's full state dict (classifier included) is what ``--weights FILE`` loads, so ``vidalign extract`` and
``align`` use it like the packaged weights.

:class:`FrameFrontend` turns a padded batch of augmented frames ``[B, T, 3, S, S]`` in [0, 1] into features
``[B, T, dim]`` for the temporal encoder, under bfloat16 autocast on CUDA when ``amp`` is on (the loss and the
encoder stay in float32).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from vidalign.errors import ConfigError
from vidalign.models.backbones import Backbone, EfficientNetLite0Backbone

__all__ = ["FrameFrontend", "TrainableBackbone"]


class TrainableBackbone(nn.Module):
    """``backbone``'s network with its last ``train_blocks`` blocks and head trainable (module docstring)."""

    def __init__(self, backbone: Backbone, train_blocks: int):
        super().__init__()
        if not isinstance(backbone, EfficientNetLite0Backbone):
            raise ConfigError(f"fine-tuning needs an EfficientNet-Lite0 backbone, not {backbone.name}")
        net = copy.deepcopy(backbone.model)  # ``backbone`` stays the frozen network it says it is
        if not 0 <= train_blocks <= len(net._blocks):
            raise ConfigError(f"train_blocks must be in 0..{len(net._blocks)}, got {train_blocks}")
        self.backbone, self.net, self.first_trained = backbone, net, len(net._blocks) - train_blocks
        for module in [*net._blocks[self.first_trained :], net._conv_head, net._bn1]:
            module.requires_grad_(True)

    @property
    def dim(self) -> int:
        return self.backbone.dim

    def train(self, mode: bool = True) -> TrainableBackbone:
        super().train(mode)
        self.net.eval()  # frozen batch-norm statistics, no stochastic depth (module docstring)
        return self

    def normalise(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames in [0, 1] ``[N, 3, S, S]`` -> the network's input scaling (``(255 x - 127) / 128``)."""
        return (frames * 255.0 - self.backbone.pixel_mean) / self.backbone.pixel_std

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Network inputs ``[N, 3, S, S]`` -> pooled features ``[N, dim]``."""
        return self.trained_part(self.frozen_part(inputs))

    def frozen_part(self, inputs: torch.Tensor) -> torch.Tensor:
        """Stem and frozen blocks, without gradients: inputs -> the first trained block's input."""
        net = self.backbone.inference_network  # the same values up to float rounding, faster (module docstring)
        with torch.no_grad():
            h = net._swish(net._bn0(net._conv_stem(inputs.contiguous(memory_format=torch.channels_last))))
            for block in net._blocks[: self.first_trained]:
                h = block(h)
        return h

    def trained_part(self, h: torch.Tensor) -> torch.Tensor:
        """Trained blocks, head convolution and the backbone's pooling -> ``[N, dim]``."""
        net = self.net
        for block in net._blocks[self.first_trained :]:
            h = block(h)
        return self.backbone.pool(net._swish(net._bn1(net._conv_head(h))))

    @torch.inference_mode()
    def frozen_activations(self, frames: np.ndarray, batch_size: int = 32) -> torch.Tensor:
        """The frozen part's output for uint8 frames ``[T, H, W, 3]`` with the backbone's inference
        preprocessing: it never changes during a run, so the spread check computes it once
        (:meth:`features_from`)."""
        chunks = []
        for start in range(0, len(frames), batch_size):
            batch = torch.from_numpy(np.array(frames[start : start + batch_size])).to(self.backbone.device)
            chunks.append(self.frozen_part(self.backbone.preprocess(batch.permute(0, 3, 1, 2))))
        return torch.cat(chunks)

    @torch.inference_mode()
    def features_from(self, activations: torch.Tensor, batch_size: int = 64) -> np.ndarray:
        """Features ``[T, dim]`` from :meth:`frozen_activations` through the current trained part: equal to
        ``vidalign extract`` with the weights of this moment."""
        was_training = self.training
        self.eval()
        out = torch.cat(
            [self.trained_part(activations[i : i + batch_size]) for i in range(0, len(activations), batch_size)]
        )
        self.train(was_training)
        return out.float().cpu().numpy()

    def embed(self, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Features of uint8 frames ``[T, H, W, 3]`` with the backbone's own inference preprocessing, as
        ``vidalign extract`` computes them with the current weights."""
        return self.features_from(self.frozen_activations(frames, batch_size))


class FrameFrontend(nn.Module):
    """Padded frames ``[B, T, 3, S, S]`` in [0, 1] -> features ``[B, T, dim]`` (padding rows stay zero)."""

    def __init__(self, backbone: TrainableBackbone, amp: bool = True):
        super().__init__()
        self.backbone, self.amp = backbone, amp

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inputs = self.backbone.normalise(frames[mask])
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp and inputs.is_cuda):
            features = self.backbone(inputs)
        out = torch.zeros(*mask.shape, features.shape[-1], dtype=torch.float32, device=frames.device)
        out[mask] = features.float()
        return out
