"""Fine-tuning the backbone (``vidalign.finetuning``): frame cache, per-clip augmentation, the trained part of the
network, and a tiny end-to-end run on CPU whose backbone ``align`` and ``extract`` then use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from ddp_helpers import free_port, params_digest
from vidalign.api import Aligner, finetune
from vidalign.cli import main
from vidalign.data.augment import AugmentConfig
from vidalign.data.sampling import SamplingConfig
from vidalign.data.video import ToneMappingWarning, read_frames, write_video
from vidalign.errors import ConfigError
from vidalign.evaluation.spread import embedding_spread
from vidalign.finetuning import frame_cache
from vidalign.finetuning.backbone import FrameFrontend, TrainableBackbone
from vidalign.finetuning.clip_augment import ClipAugmentConfig, ClipParams, augment_clip, draw_clip_params
from vidalign.finetuning.frame_cache import cache_frames
from vidalign.finetuning.run import FINETUNE_EPOCHS, finetune_settings, training_shape
from vidalign.finetuning.sampler import FramePairSampler
from vidalign.models.backbones import build_backbone
from vidalign.models.model import load_model
from vidalign.presets import load_preset
from vidalign.representation import video_frontend

TINY = ["frame_size=32", "input_size=32", "sampling.batch_size=2", "encoder.max_frames=8", "encoder.hidden=16",
        "encoder.out_dim=8", "encoder.n_layers=1", "train_blocks=1"]  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory, coded):
    """Three coded clips (frame k shows code k) of 8-12 frames, 48 x 64."""
    root = tmp_path_factory.mktemp("ft-videos")
    paths = []
    for i, n in enumerate((12, 8, 10)):
        path = root / f"v{i}.mp4"
        write_video(path, (coded.frame(k + i) for k in range(n)), fps=10.0)
        paths.append(path)
    return paths


def test_the_cache_holds_the_sampled_frames_resized_and_is_decoded_once(videos, coded, tmp_path, monkeypatch):
    cached = cache_frames(videos[:2], tmp_path, size=24, stride=2)
    decoded = read_frames(videos[0], stride=2)
    assert cached[0].frames.shape == (len(decoded[0]), 24, 32, 3)  # shorter side 24, aspect kept
    assert cached[0].source_indices == tuple(range(0, 12, 2)) and cached[0].fps == pytest.approx(5.0)
    assert [coded.index(image) for image in cached[0].frames] == [k for k in range(0, 12, 2)]

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(frame_cache, "sampled_batches", no_decoding)
    again = cache_frames(videos[:2], tmp_path, size=24, stride=2)
    assert np.array_equal(again[1].frames, cached[1].frames)
    with pytest.raises(AssertionError, match="decoded again"):  # other settings: a new entry
        cache_frames(videos[:1], tmp_path, size=16, stride=2)


def test_the_cache_says_a_videos_decoding_warning_on_every_read(tmp_path, tagged_video):
    """An HDR video's warning came with its first decoding only: a resumed fine-tuning, reading the cache, was
    silent about it."""
    path = tagged_video(tmp_path / "hdr.mp4", 18)
    for _ in range(2):  # decoded, then read from the cache
        with pytest.warns(ToneMappingWarning, match="hdr.mp4: an HDR video"):
            cache_frames([path], tmp_path / "cache", size=16)


def test_videos_with_dots_in_their_names_get_entries_of_their_own(videos, tmp_path):
    dotted = []
    for name, video in (("take.1.mp4", videos[0]), ("take.2.mp4", videos[1])):
        (tmp_path / name).write_bytes(video.read_bytes())
        dotted.append(tmp_path / name)
    cached = cache_frames(dotted, tmp_path / "cache", size=24)
    assert [len(c.frames) for c in cached] == [12, 8] and [c.video_id for c in cached] == ["take.1", "take.2"]


def test_one_draw_for_every_frame_of_a_clip():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    frames = np.stack([image] * 5)
    params = draw_clip_params(40, 60, ClipAugmentConfig(), rng)
    clip = augment_clip(frames, params, (16, 16))
    assert clip.shape == (5, 3, 16, 16) and 0 <= float(clip.min()) and float(clip.max()) <= 1
    assert all(torch.equal(clip[0], clip[t]) for t in range(1, 5))  # the same crop, flip and colours


def test_the_crop_and_flip_are_those_drawn():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(2, 20, 30, 3), dtype=np.uint8)
    params = ClipParams(top=4, left=6, height=8, width=8, flip=True, brightness=1, contrast=1, saturation=1, hue=0)
    clip = augment_clip(frames, params, (8, 8))  # no resize: the crop itself
    expected = frames[:, 4:12, 6:14][:, :, ::-1].transpose(0, 3, 1, 2) / 255.0
    np.testing.assert_allclose(clip.numpy(), expected, atol=1e-6)


def test_the_grid_backbone_trains_on_crops_of_the_whole_frames_layout():
    """Its cells pool where in the frame a body part is, and inference embeds the whole frame at its aspect: the
    crops it fine-tunes on keep that aspect (the pooled backbone's stay square, as its centre crop)."""
    grid = build_backbone("efficientnet_lite0_grid", "none")
    assert grid.input_shape(256, 455, 224) == (224, 398)  # a 16:9 frame, as preprocess gives it
    assert tuple(grid.preprocess(torch.zeros(1, 3, 256, 455, dtype=torch.uint8)).shape[-2:]) == (224, 398)
    assert build_backbone("efficientnet_lite0", "none").input_shape(256, 455, 224) == (224, 224)
    assert training_shape(grid, [np.zeros((3, 256, 455, 3), np.uint8)] * 2 + [np.zeros((3, 256, 256, 3))], 160) == (
        160,
        284,
    )
    rng = np.random.default_rng(0)
    boxes = [draw_clip_params(256, 455, ClipAugmentConfig(), rng, aspect=398 / 224) for _ in range(200)]
    ratios = np.array([box.width / box.height for box in boxes])
    assert 0.75 * 398 / 224 - 0.02 <= ratios.min() and ratios.max() <= 455 / 256 * 4 / 3  # around the frame's
    whole = ClipAugmentConfig(crop_scale_min=1.0, crop_ratio_max=1.0)
    box = draw_clip_params(256, 455, whole, rng, aspect=455 / 256)
    assert (box.top, box.left, box.height, box.width) == (0, 0, 256, 455)


def test_square_crops_of_a_wide_frame_keep_their_aspect_range():
    """The pooled backbone trains on squares; on a 16:9 frame about a sixth of the draws found no square-ish box
    within 10 tries and fell back to the whole frame, squashed 1.78x into the square. The fallback is now the
    largest centred box of aspect 4/3 (torchvision's ``RandomResizedCrop`` clamps it too)."""
    rng = np.random.default_rng(0)
    boxes = [draw_clip_params(256, 455, ClipAugmentConfig(), rng) for _ in range(2000)]
    ratios = np.array([box.width / box.height for box in boxes])
    assert ratios.max() <= 4 / 3 + 0.01 and ratios.min() >= 3 / 4 - 0.01
    fallback = draw_clip_params(256, 455, ClipAugmentConfig(crop_scale_min=1.0), rng)  # only the fallback fits
    assert (fallback.top, fallback.left, fallback.height, fallback.width) == (0, (455 - 341) // 2, 256, 341)
    tall = draw_clip_params(455, 256, ClipAugmentConfig(crop_scale_min=1.0), rng)
    assert (tall.top, tall.left, tall.height, tall.width) == ((455 - 341) // 2, 0, 341, 256)


def test_views_play_source_frames_and_differ_between_the_two_views(coded):
    frames = [np.stack([coded.frame(k) for k in range(20)]) for _ in range(2)]
    augment = AugmentConfig(crop_min=0.5, speed_min=0.5, speed_max=2.0)
    clip = ClipAugmentConfig(crop_scale_min=1.0, crop_ratio_max=1.0, flip=0, brightness=0, contrast=0,
                             saturation=0, hue=0)  # fmt: skip
    sampler = FramePairSampler(frames, "two_views", SamplingConfig(batch_size=2), augment, clip,
                               input_shape=(16, 16), seed=0, max_frames=None)  # fmt: skip
    batch = next(sampler.epoch(0))
    for side in (batch.a, batch.b):
        assert side.x.shape[2:] == (3, 16, 16)
        for b in range(2):
            rows = side.mask[b].nonzero().flatten()
            shown = [coded.index((side.x[b, t].permute(1, 2, 0).numpy() * 255).round()) for t in rows]
            positions = side.idx[b, side.select_mask[b]].round().int().tolist()
            assert [shown[s] for s in side.select[b, side.select_mask[b]].tolist()] == positions
            assert np.all(np.diff(shown) >= 0)  # played forwards, at any speed
    assert not torch.equal(batch.a.x, batch.b.x)


def test_only_the_last_blocks_learn_and_batch_norm_statistics_stay(videos):
    backbone = TrainableBackbone(build_backbone("efficientnet_lite0", "none"), train_blocks=1)
    frozen = {n: p.clone() for n, p in backbone.net.named_parameters() if not p.requires_grad}
    stats = {n: b.clone() for n, b in backbone.net.named_buffers()}
    backbone.train()
    features = backbone(torch.randn(3, 3, 64, 64))
    assert features.shape == (3, 1280)
    features.square().mean().backward()
    learned = [n for n, p in backbone.net.named_parameters() if p.grad is not None]
    assert learned and all(n.startswith(("_blocks.15.", "_conv_head", "_bn1")) for n in learned)
    assert all(torch.equal(p, frozen[n]) for n, p in backbone.net.named_parameters() if n in frozen)
    assert all(torch.equal(b, stats[n]) for n, b in backbone.net.named_buffers())
    with pytest.raises(ConfigError, match="EfficientNet-Lite0"):
        TrainableBackbone(build_backbone("pixel"), 1)


def test_fine_tuning_trains_a_copy_and_starts_from_the_backbones_features():
    """The frozen part runs through the backbone's inference copy (batch norms folded): at the start the trainable
    backbone gives the backbone's own features; training changes its copy, never the backbone it wraps."""
    frozen = build_backbone("efficientnet_lite0")
    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    before, loaded = frozen.embed(frames), {k: v.clone() for k, v in frozen.model.state_dict().items()}
    backbone = TrainableBackbone(frozen, train_blocks=1)
    np.testing.assert_allclose(backbone.embed(frames), before, rtol=1e-4, atol=1e-5)
    optimizer = torch.optim.SGD([p for p in backbone.parameters() if p.requires_grad], lr=1.0)
    backbone.train()
    backbone(torch.randn(2, 3, 64, 64)).square().mean().backward()
    optimizer.step()
    assert not np.allclose(backbone.embed(frames), before, atol=1e-3)
    np.testing.assert_array_equal(frozen.embed(frames), before)
    assert all(torch.equal(v, loaded[k]) for k, v in frozen.model.state_dict().items())


def test_the_frontend_leaves_padding_rows_zero():
    frontend = FrameFrontend(TrainableBackbone(build_backbone("efficientnet_lite0", "none"), 0))
    mask = torch.tensor([[True, True, False]])
    out = frontend(torch.rand(1, 3, 3, 32, 32), mask)
    assert out.shape == (1, 3, 1280) and torch.all(out[0, 2] == 0) and torch.any(out[0, :2] != 0)


def test_a_tiny_finetuning_run_trains_the_backbone_that_align_then_uses(videos, tmp_path):
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    run = finetune(videos, "lac", tmp_path / "run", assignments=TINY, epochs=1, stride=1).path
    torch.testing.assert_close(torch.rand(2), expected, rtol=0, atol=0)  # the caller's generator as it was
    config = json.loads((run / "config.json").read_text())
    assert config["backbone"]["weights"] == "backbone.safetensors" and config["frames"] == {"stride": 1, "fps": None}
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 2 and "within" in log[0] and config["spread"]["collapsed"] is False

    start, tuned = (
        build_backbone("efficientnet_lite0"),
        build_backbone("efficientnet_lite0", run / "backbone.safetensors"),
    )
    changed = [n for n, p in tuned.model.state_dict().items() if not torch.equal(p, start.model.state_dict()[n])]
    assert changed and all(n.startswith(("_blocks.15.", "_conv_head", "_bn1")) for n in changed)

    model, _ = load_model(run)
    cached = cache_frames(videos, run / "frames", size=32, stride=1)  # what the run's spread check embedded
    recomputed = embedding_spread([model.embed(tuned.embed(video.frames)) for video in cached])
    assert config["spread"]["within"] == pytest.approx(recomputed["within"], abs=2e-4)  # the logged check

    aligner = Aligner.from_run(run)
    assert aligner.weights == run / "backbone.safetensors"
    frontend = {"backbone": "efficientnet_lite0", "weights": run / "backbone.safetensors", "stride": 1}
    assert video_frontend(run).items() >= frontend.items()  # what segment / retrieve extract videos with
    frames = read_frames(videos[0])[0]
    np.testing.assert_allclose(aligner.load(videos[0], "a").features, tuned.embed(frames), rtol=1e-4, atol=1e-5)

    resumed = finetune(videos, "lac", tmp_path / "run", assignments=TINY, epochs=2, stride=1).path
    assert len((resumed / "log.csv").read_text().splitlines()) == 3  # one more epoch, from the checkpoint

    cached_entries = sorted(p.name for p in (run / "frames").iterdir())
    with pytest.raises(ConfigError, match="different settings"):
        finetune(videos, "lac", run, assignments=TINY, epochs=2, stride=2)
    assert sorted(p.name for p in (run / "frames").iterdir()) == cached_entries  # refused before decoding again


def test_a_busy_fine_tuning_run_is_refused_before_decoding_into_it(videos, tmp_path):
    """The lock was taken for the epochs only: a second process decoded every video into the cache first."""
    from vidalign.atomic import exclusive_use

    with exclusive_use(tmp_path / "run", what="training into it"):  # another open file: as another process
        with pytest.raises(ConfigError, match="another process is training into it"):
            finetune(videos, "lac", tmp_path / "run", assignments=TINY, epochs=1, stride=1)
    assert not (tmp_path / "run" / "frames").exists()


def test_fine_tuning_takes_at_most_its_epoch_budget_unless_told():
    """LAC's preset trains 100 epochs on extracted features, about 1.5 h of fine-tuning on a CPU: capped; VAOT's
    video section trains fewer and keeps them; ``--epochs`` and ``--set epochs=`` are obeyed."""
    assert load_preset("lac", "video")["epochs"] > FINETUNE_EPOCHS
    assert finetune_settings("lac", ["a.mp4"], "run")["epochs"] == FINETUNE_EPOCHS
    assert (
        finetune_settings("vaot", ["a.mp4"], "run")["epochs"]
        == load_preset("vaot", "video")["epochs"]
        < FINETUNE_EPOCHS
    )
    assert finetune_settings("lac", ["a.mp4"], "run", epochs=20)["epochs"] == 20
    assert finetune_settings("lac", ["a.mp4"], "run", overrides=["epochs=30"])["epochs"] == 30


def test_a_backbone_that_keeps_the_layout_fine_tunes_without_mirror_images():
    """The grid-pooled backbone's cells keep where things are, so a flipped view is another input: with flips,
    LAC fine-tuned on the waving clips collapsed (docs/finetune.md, Measured on real clips)."""
    flip = ClipAugmentConfig().flip
    assert flip > 0 and "flip" not in finetune_settings("lac", ["a.mp4"], "run").get("clip", {})
    for given in ({"backbone": "efficientnet_lite0_grid"}, {"overrides": ["backbone=efficientnet_lite0_grid"]}):
        assert finetune_settings("lac", ["a.mp4"], "run", **given)["clip"]["flip"] == 0.0
    told = finetune_settings("lac", ["a.mp4"], "run", backbone="efficientnet_lite0_grid", overrides=["clip.flip=0.3"])
    assert told["clip"]["flip"] == 0.3
    assert build_backbone("efficientnet_lite0_grid", "none").keeps_layout
    assert not build_backbone("efficientnet_lite0", "none").keeps_layout


def test_the_cli_fine_tunes_and_aligns_with_the_run(videos, tmp_path, capsys):
    argv = ["finetune", str(videos[0].parent), "--method", "vaot", "--out", str(tmp_path / "run"), "--epochs", "1",
            "--quiet", *sum((["--set", s] for s in TINY), [])]  # fmt: skip
    assert main(argv) == 0
    assert "vidalign align A.mp4 B.mp4 --model" in capsys.readouterr().out
    out = tmp_path / "aligned"
    assert main(["align", str(videos[0]), str(videos[2]), "--model", str(tmp_path / "run"), "--out", str(out),
                 "--no-viewer"]) == 0  # fmt: skip
    assert (out / "alignment.json").is_file()


def _ddp_worker(rank: int, port: int, videos: list[str], out: str, digests: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})  # fmt: skip
    torch.set_num_threads(1)
    run = finetune(videos, "lac", out, assignments=TINY, epochs=1, stride=1)
    Path(digests, f"rank{rank}").write_text(params_digest(run.model) + params_digest(run.backbone.net))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_fine_tune_in_sync(videos, tmp_path):
    """Two CPU processes with gloo (torchrun's environment) end with identical models and backbones, which rank 0
    wrote."""
    digests = tmp_path / "digests"
    digests.mkdir()
    out = tmp_path / "run"
    mp.spawn(_ddp_worker, args=(free_port(), [str(v) for v in videos], str(out), str(digests)), nprocs=2)
    assert (digests / "rank0").read_text() == (digests / "rank1").read_text()
    model, _ = load_model(out)
    written = build_backbone("efficientnet_lite0", out / "backbone.safetensors").model
    assert params_digest(model) + params_digest(written) == (digests / "rank0").read_text()


def test_a_moved_fine_tuning_run_resumes_but_other_data_is_refused(tmp_path):
    """A run's own frame cache (``OUT/frames``, its ``data``) moves with it, as ``out`` may change; a run
    claimed for another folder's data is still refused."""
    import shutil

    from vidalign.finetuning import FinetuneConfig
    from vidalign.run_dir import RunDir

    def claim(out, **options):
        config = FinetuneConfig.from_dict(finetune_settings("lac", ["v.mp4"], out, **options))
        return RunDir(out).claim(config.to_dict(), defaults=config.section_defaults())

    claim(tmp_path / "old")
    shutil.move(tmp_path / "old", tmp_path / "new")
    assert claim(tmp_path / "new") is False  # claimed before, nothing to resume yet
    claim(tmp_path / "cached", data=str(tmp_path / "shared_frames"))
    with pytest.raises(ConfigError, match="data"):
        claim(tmp_path / "cached", data=str(tmp_path / "other_frames"))
