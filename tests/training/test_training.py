"""The training loop: untrained reference model, rebuild from config.json, exact resume, DDP ranks in sync."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from vidalign.data.augment import AugmentConfig
from vidalign.data.layout import FeatureFolder
from vidalign.data.sampling import SamplingConfig
from vidalign.models.heads import EncoderConfig
from vidalign.models.model import load_model
from vidalign.training import TrainConfig, train


def tiny_config(data: Path, out: Path, method: str = "vaot", epochs: int = 2, **loss) -> TrainConfig:
    return TrainConfig(
        method=method,
        data=str(data),
        out=str(out),
        epochs=epochs,
        lr=1e-3,
        encoder=EncoderConfig(kind="conv", hidden=16, n_layers=1, out_dim=8, dropout=0.1),
        sampling=SamplingConfig(batch_size=2, loss_frames=12),
        augment=AugmentConfig(noise=0.05),
        loss=loss,
    )


def params_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_epochs_zero_writes_a_rebuildable_untrained_model(tiny_dataset, tmp_path):
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=0), progress=False).path
    assert {"model.safetensors", "config.json"} <= {p.name for p in run.iterdir()}
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "vaot" and config["encoder"]["in_dim"] == 16
    assert config["train"]["epochs"] == 0 and len(config["train_videos"]) > 0
    model, _ = load_model(run)
    video = FeatureFolder(tiny_dataset).load_split("val")[0]
    z = model.embed(video.features)
    assert z.shape == (len(video.features), 8) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    again, _ = load_model(run)
    np.testing.assert_array_equal(again.embed(video.features), z)


def test_resume_continues_exactly_like_an_uninterrupted_run(tiny_dataset, tmp_path):
    straight = train(tiny_config(tiny_dataset, tmp_path / "straight", epochs=3), progress=False).path
    interrupted = tiny_config(tiny_dataset, tmp_path / "resumed", epochs=1)
    train(interrupted, progress=False)
    resumed = train(tiny_config(tiny_dataset, tmp_path / "resumed", epochs=3), progress=False).path
    a, _ = load_model(straight)
    b, _ = load_model(resumed)
    assert params_digest(a) == params_digest(b)
    rows = (resumed / "log.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[-1].startswith("3,")
    assert (straight / "log.csv").read_text().splitlines()[0] == rows[0]


def test_a_run_directory_of_other_settings_is_refused(tiny_dataset, tmp_path):
    train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False)
    other = tiny_config(tiny_dataset, tmp_path / "run", epochs=1)
    other.lr = 0.5
    with pytest.raises(ValueError, match="different settings.*lr"):
        train(other, progress=False)


def test_segmentation_methods_get_k_from_the_mapping_and_kmeans_prototypes(tiny_dataset, tmp_path):
    run = train(tiny_config(tiny_dataset, tmp_path / "asot", method="asot", epochs=1), progress=False).path
    model, config = load_model(run)
    assert config["loss"]["n_clusters"] == len(FeatureFolder(tiny_dataset).class_names)
    video = FeatureFolder(tiny_dataset).load_split("val")[0]
    labels = model.segment(video.features)
    assert labels.shape == (len(video.features),) and labels.max() < config["loss"]["n_clusters"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, data: str, out: str, digests: str) -> None:
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)}
        | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    torch.set_num_threads(1)
    from vidalign import training

    trained = training.train(tiny_config(Path(data), Path(out), epochs=2), progress=False)
    Path(digests, f"rank{rank}").write_text(params_digest(trained.model))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_stay_in_sync(tiny_dataset, tmp_path):
    """Two CPU processes with gloo (torchrun's environment): after training both ranks hold identical weights,
    which also equal the weights rank 0 wrote."""
    digests = tmp_path / "digests"
    digests.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tiny_dataset), str(tmp_path / "run"), str(digests)), nprocs=2)
    rank0, rank1 = (digests / "rank0").read_text(), (digests / "rank1").read_text()
    assert rank0 == rank1
    model, _ = load_model(tmp_path / "run")
    assert params_digest(model) == rank0
