"""A trained vidalign model: the frame encoder plus the method's own parameters (gap penalties, prototypes).

Saved in a run directory (:class:`vidalign.run_dir.RunDir`: tensors under ``encoder.*`` and ``criterion.*``, next to
a record of every constructor argument), so :func:`load_model` rebuilds the model with no code changes and no pickle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from torch import nn

from vidalign.device import seeded_rng, torch_device
from vidalign.errors import ConfigError, DataError, VidalignError, one_line
from vidalign.losses import build_loss
from vidalign.models.heads import EncoderConfig, build_encoder, encoder_stride
from vidalign.run_dir import RunDir

CHUNK_FRAMES = 1024  # inference: longer sequences are embedded in chunks (FrameEmbedder.embed_in_chunks)


class VidalignModel(nn.Module):
    """``encoder`` maps ``[B, T, D]`` features to embeddings; ``criterion`` is the method's loss module."""

    def __init__(self, method: str, encoder_config: EncoderConfig, loss_params: dict):
        super().__init__()
        self.method = method
        self.encoder = build_encoder(encoder_config)
        self.criterion = build_loss(method, **loss_params)

    @torch.inference_mode()
    def embed(self, features: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """Embeddings ``[T, out_dim]`` of one whole video's features ``[T, D]`` (eval mode), at the frame rate
        the encoder was trained at: a video longer than ``max_frames`` is embedded as its ``s`` strided phases
        ``features[o::s]`` (one sequence each, batched), interleaved back into ``[T, out_dim]``. A sequence longer
        than :data:`CHUNK_FRAMES` (``max_frames`` None or large) is embedded in chunks with exact context."""
        was_training = self.training
        self.eval()
        x = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32, device=device)
        stride = encoder_stride(len(x), self.encoder.config.max_frames)
        phases = [x[offset::stride] for offset in range(stride)]
        longest = len(phases[0])
        if longest > CHUNK_FRAMES:  # each phase in chunks with exact context (FrameEmbedder.embed_in_chunks)
            z = torch.zeros(stride, longest, self.encoder.config.out_dim, device=device)
            for offset, phase in enumerate(phases):
                z[offset, : len(phase)] = self.encoder.embed_in_chunks(phase.unsqueeze(0), CHUNK_FRAMES)[0]
        else:
            batch = torch.zeros(stride, longest, x.shape[1], dtype=x.dtype, device=device)
            mask = torch.zeros(stride, longest, dtype=torch.bool, device=device)
            for offset, phase in enumerate(phases):
                batch[offset, : len(phase)], mask[offset, : len(phase)] = phase, True
            z = self.encoder(batch, mask)  # [stride, longest, out]: frame o + k*s is z[o, k]
        out = z.transpose(0, 1).reshape(stride * longest, -1)[: len(x)]
        self.train(was_training)
        return out.float().cpu().numpy()

    @torch.inference_mode()
    def segment(self, features: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """Action id per frame ``[T]`` of one whole video, from the method's prototypes (ASOT, VASOT)."""
        if not getattr(self.criterion, "segmentation", False):
            raise ConfigError(f"method {self.method!r} has no action prototypes to segment with")
        z = torch.as_tensor(self.embed(features, device), device=device)
        return self.criterion.segment(z).cpu().numpy()


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[VidalignModel, dict]:
    """Rebuild the model of a training run from ``config.json`` + ``model.safetensors``; a damaged run (a file
    that does not parse, a config without its keys, weights of another shape) raises one :class:`DataError`."""
    run, device = RunDir(run_dir), torch_device(device)
    try:
        config = run.read_config()
        weights = run.read_weights()
        with seeded_rng(None):  # the layers' random start values, overwritten below, leave the caller's RNG alone
            model = VidalignModel(config["method"], EncoderConfig.from_dict(config["encoder"]), config["loss"])
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except (FileNotFoundError, VidalignError):
        raise
    except (ValueError, KeyError, TypeError, RuntimeError, OSError, SafetensorError) as error:
        raise DataError(f"{run.path}: not a readable `vidalign train` run ({one_line(error)})") from error
    if missing or unexpected:
        raise DataError(f"{run.path}: weights do not match config.json (missing {missing}, extra {unexpected})")
    return model.to(device).eval(), config
