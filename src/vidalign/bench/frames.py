"""Frame-feature benchmark (suite "frames", issue "Real videos of people"): frames per second of the frame
backbones on this machine's CPU (or the given device), the throughput ``vidalign extract`` can reach once frames
are decoded.

Rows: ``efficientnet_lite0`` (the default, pooled) and ``efficientnet_lite0_grid`` (whole frame, 2 x 2 grid) on a
batch of 32 random 432 x 768 RGB frames (a 16:9 phone or web clip at 432p), each against torchvision's ResNet-50
(``weights="none"``: the same arithmetic as the ImageNet weights, nothing downloaded) timed in the same run. The
note gives frames per second; the ratio is ResNet-50's time over ours. Decoding is not included. With MediaPipe
installed (``vidalign[pose]``), a ``pose`` row too: on random frames nobody is found, so its person detector runs on
every frame, its slowest case (on real clips, where a found person is tracked: ``docs/data.md``, Keypoints).

Inference row: ``efficientnet_lite0`` on 32 frames of 1080 x 1920 (a phone's portrait video) as ``embed`` runs it
(frames resized one at a time, the network's inference copy: batch norms folded, channels last; ``docs/cli.md``,
Speed) against the same network as loaded, fed the whole batch resized at once, timed in the same run.

Fine-tuning row (``vidalign finetune``): one optimizer step (forward, backward, AdamW) on 32 augmented 224 x 224
crops through EfficientNet-Lite0 with its last 2 blocks and head trained (the default ``train_blocks``), against
the same step with every block trained, timed in the same run.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
import torch.nn.functional as F

from vidalign.bench import BenchRow, time_call
from vidalign.finetuning.backbone import TrainableBackbone
from vidalign.models.backbones import build_backbone

BATCH, HEIGHT, WIDTH = 32, 432, 768


def run(quick: bool) -> list[BenchRow]:
    """One row per backbone against the ResNet-50 reference (8 frames when ``quick``)."""
    frames = np.random.default_rng(0).integers(0, 256, (8 if quick else BATCH, HEIGHT, WIDTH, 3), dtype=np.uint8)
    repeats = 1 if quick else 3
    reference = build_backbone("resnet50", weights="none")
    reference_ms = time_call(lambda: reference.embed(frames), repeats=repeats)
    rows = []
    pose = ("pose",) if importlib.util.find_spec("mediapipe") is not None else ()
    for name in ("efficientnet_lite0", "efficientnet_lite0_grid", *pose):
        backbone = build_backbone(name)
        ms = time_call(lambda backbone=backbone: backbone.embed(frames), repeats=repeats)
        note = f"{1e3 * len(frames) / ms:.1f} frames/s (ResNet-50 {1e3 * len(frames) / reference_ms:.1f})"
        rows.append(BenchRow(name, f"{len(frames)} frames {HEIGHT}x{WIDTH}", ms, "resnet50 (random init)",
                             reference_ms, note=note))  # fmt: skip
    return rows + [inference_row(quick), finetune_row(quick)]


def inference_row(quick: bool) -> BenchRow:
    """``embed`` against the network as loaded on full-HD frames (module docstring)."""
    frames = np.random.default_rng(0).integers(0, 256, (8 if quick else BATCH, 1920, 1080, 3), dtype=np.uint8)
    backbone = build_backbone("efficientnet_lite0")
    shape = (int(1920 * backbone.resize_shorter_side / 1080), backbone.resize_shorter_side)
    top, left = (round((side - backbone.input_size) / 2) for side in shape)  # as the backbone's centre crop

    @torch.inference_mode()
    def as_loaded() -> None:
        batch = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
        resized = F.interpolate(batch, size=shape, mode="bilinear", antialias=True, align_corners=False)
        crop = resized[..., top : top + backbone.input_size, left : left + backbone.input_size]
        backbone.pool(backbone.model.extract_features((crop - backbone.pixel_mean) / backbone.pixel_std))

    repeats = 1 if quick else 3
    reference_ms = time_call(as_loaded, repeats=repeats)
    ms = time_call(lambda: backbone.embed(frames), repeats=repeats)
    note = f"{1e3 * len(frames) / ms:.1f} frames/s (as loaded: {1e3 * len(frames) / reference_ms:.1f})"
    return BenchRow("efficientnet_lite0 inference copy", f"{len(frames)} frames 1920x1080", ms,
                    "the network as loaded, batch resized at once", reference_ms, note=note)  # fmt: skip


def _step(train_blocks: int, crops: torch.Tensor):
    """One fine-tuning step of EfficientNet-Lite0 with ``train_blocks`` blocks trained, as a closure."""
    backbone = TrainableBackbone(build_backbone("efficientnet_lite0"), train_blocks).train()
    optimizer = torch.optim.AdamW([p for p in backbone.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        backbone(backbone.normalise(crops)).square().mean().backward()
        optimizer.step()

    return step


def finetune_row(quick: bool) -> BenchRow:
    """Frames per second of a fine-tuning step (module docstring)."""
    crops = torch.rand(8 if quick else BATCH, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    repeats = 1 if quick else 3
    reference_ms = time_call(_step(16, crops), repeats=repeats)
    ms = time_call(_step(2, crops), repeats=repeats)
    note = f"{1e3 * len(crops) / ms:.1f} frames/s (every block trained: {1e3 * len(crops) / reference_ms:.1f})"
    return BenchRow("finetune efficientnet_lite0", f"{len(crops)} crops 224x224, 2 blocks", ms,
                    "every block trained", reference_ms, note=note)  # fmt: skip
