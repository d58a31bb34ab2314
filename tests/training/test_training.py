"""The training loop: untrained reference model, rebuild from config.json, exact resume, DDP ranks in sync, and
the collapse check (the spread of the embeddings logged every epoch; a collapsed run says so and warns when used)."""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import vidalign as va
from ddp_helpers import free_port, params_digest
from dp_oracles import plain_dtw_path_mean
from vidalign.cli import main
from vidalign.confidence import MAX_MATCH_RATIO, MIN_TRAINING_DISTANCE
from vidalign.data.augment import AugmentConfig
from vidalign.data.layout import FeatureFolder
from vidalign.data.sampling import SamplingConfig
from vidalign.errors import CollapseWarning, ConfigError, InputError, UnfinishedRunWarning
from vidalign.evaluation import spread as spread_module
from vidalign.evaluation.spread import embedding_spread
from vidalign.models.heads import EncoderConfig
from vidalign.models.model import VidalignModel, load_model
from vidalign.representation import Representation
from vidalign.training import MONITORED_VIDEOS, SpreadMonitor, TrainConfig, train


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


def test_training_and_loading_leave_the_callers_random_generator_alone(tiny_dataset, tmp_path):
    """Training seeded torch's global generator (every draw after it the same whatever the user seeded) and
    building a run's layers advanced it; now both give it back as found. The run records its thread count."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    load_model(run)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)
    assert json.loads((run / "config.json").read_text())["threads"] == torch.get_num_threads()


def test_a_run_started_again_from_its_first_epoch_keeps_one_log_row_per_epoch(tiny_dataset, tmp_path):
    """A run stopped before its first checkpoint (or whose damaged checkpoint was deleted, as the error says)
    starts from epoch 0: the log had the earlier try's rows appended to."""
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False).path
    (run / "checkpoint.safetensors").unlink()
    train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False)
    assert [row.split(",")[0] for row in (run / "log.csv").read_text().splitlines()] == ["epoch", "1", "2"]


def test_a_resume_writes_the_checkpoints_weights_again(tiny_dataset, tmp_path):
    """Killed after an epoch's weights but before its config and checkpoint, a run kept the later weights when
    resumed (the record named the checkpoint's epoch)."""
    from safetensors.torch import load_file, save_file

    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    written = load_file(run / "model.safetensors")
    save_file({name: value + 1.0 for name, value in written.items()}, run / "model.safetensors")  # "epoch 2"
    later = (run / "config.json").stat().st_mtime_ns + 1_000_000_000  # written after the record, on any clock
    os.utime(run / "model.safetensors", ns=(later, later))
    train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False)
    again = load_file(run / "model.safetensors")
    assert all(torch.equal(again[name], value) for name, value in written.items())


def test_a_file_system_without_flock_trains_unguarded(tiny_dataset, tmp_path, monkeypatch):
    """Lustre without -o flock answers ENOSYS: training stopped with '[Errno 38] Function not implemented'."""
    import errno
    import fcntl

    def no_flock(*args):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    assert train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path == tmp_path / "run"


def test_a_second_process_training_into_a_busy_run_is_refused(tiny_dataset, tmp_path):
    """Two identical commands into one --out both ran to the end, every epoch logged twice."""
    from vidalign.atomic import exclusive_use

    with exclusive_use(tmp_path / "run", what="training into it"):  # another open file: as another process
        with pytest.raises(ConfigError, match="another process is training into it right now"):
            train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False)
    assert train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path == tmp_path / "run"


def test_a_run_stopped_before_its_last_epoch_is_named_so_when_used(tiny_dataset, tmp_path):
    """A killed run's weights were used by align / eval / segment as a finished model's, without a word."""
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Representation(run)  # finished: silent
    config = json.loads((run / "config.json").read_text())
    config["train"]["epochs"] = 3  # as written by a run of 3 epochs killed after its first
    (run / "config.json").write_text(json.dumps(config))
    with pytest.warns(UnfinishedRunWarning, match="stopped after 1 of its 3 epochs"):
        Representation(run)


def test_a_run_is_not_relabelled_with_fewer_epochs_than_its_weights_have(tiny_dataset, tmp_path):
    """``--epochs 0`` into a trained run's directory would have handed back the trained model named as the
    untrained reference; the same epochs again reuse the finished run."""
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False).path
    before = (run / "config.json").read_text()
    with pytest.raises(ValueError, match="trained 2 epochs; 0 need a fresh run directory"):
        train(tiny_config(tiny_dataset, tmp_path / "run", epochs=0), progress=False)
    assert (run / "config.json").read_text() == before
    train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False)
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2


def test_a_run_stopped_between_its_weights_and_its_checkpoint_keeps_the_checkpoints_weights(
    tiny_dataset, tmp_path, monkeypatch
):
    """Each epoch writes config.json, the weights, the log row, then the checkpoint. Stopped before the third
    checkpoint and rerun with 2 epochs, the run held the third epoch's weights under a config of two."""
    from vidalign.run_dir import RunDir

    clean = train(tiny_config(tiny_dataset, tmp_path / "clean", epochs=2), progress=False).path
    save = RunDir.save_checkpoint

    def stop_at_the_third(self, model, optimizer, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return save(self, model, optimizer, epoch)

    monkeypatch.setattr(RunDir, "save_checkpoint", stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_dataset, tmp_path / "run", epochs=3), progress=False)
    monkeypatch.setattr(RunDir, "save_checkpoint", save)
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False).path
    assert params_digest(load_model(run)[0]) == params_digest(load_model(clean)[0])
    config, clean_config = (json.loads((path / "config.json").read_text()) for path in (run, clean))
    assert config["spread"] == clean_config["spread"] and config["spread"]["epoch"] == 2
    assert len((run / "log.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "method, loss",
    [("vaot", {}), ("vasot", {}), ("asot", {}), ("lac", {}), ("lac", {"alpha": 0.0}), ("scl", {}), ("tcc", {}),
     ("lav", {}), ("vava", {})],
)  # fmt: skip
def test_every_trained_parameter_gets_a_gradient(tiny_dataset, method, loss):
    """DistributedDataParallel stops at the second step when a trained parameter got no gradient in the first
    (LAC with ``alpha`` 0 left its gaps unused)."""
    from vidalign.data.sampling import PairSampler
    from vidalign.losses import loss_class
    from vidalign.training import PairForward, init_model

    config = tiny_config(tiny_dataset, tiny_dataset / "unused", method=method, **loss)
    folder = FeatureFolder(tiny_dataset)
    features = [r.features for r in folder.load_split("train")]
    torch.manual_seed(0)
    model = init_model(config, features, len(folder.class_names))
    sampler = PairSampler(features, loss_class(method).pairing, config.sampling, config.augment, seed=0)
    forward = PairForward(model)
    forward(next(iter(sampler.epoch(0)))).loss.backward()
    unused = [name for name, p in forward.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def test_a_non_finite_loss_stops_before_the_weights_change(tiny_dataset, tmp_path, monkeypatch):
    """Checked before the backward pass (under DDP on every rank at once), so no NaN reaches the weights that
    rank 0 might still save."""
    from vidalign.training import PairForward

    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    before = params_digest(load_model(run)[0])
    forward = PairForward.forward

    def nan_loss(self, batch):
        out = forward(self, batch)
        out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(PairForward, "forward", nan_loss)
    steps = []
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: steps.append(1))
    with pytest.raises(FloatingPointError, match="non-finite loss at epoch 2"):
        train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False)
    assert steps == [] and params_digest(load_model(run)[0]) == before


def test_a_run_directory_of_other_settings_is_refused(tiny_dataset, tmp_path):
    train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False)
    other = tiny_config(tiny_dataset, tmp_path / "run", epochs=1)
    other.lr = 0.5
    with pytest.raises(ValueError, match="different settings.*lr"):
        train(other, progress=False)


def test_a_run_written_before_a_setting_existed_resumes(tiny_dataset, tmp_path):
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    settings = json.loads((run / "settings.json").read_text())
    del settings["augment"]["drift"]  # as a run of the version before augment.drift was written it
    (run / "settings.json").write_text(json.dumps(settings))
    assert train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False).path == run
    assert len((run / "log.csv").read_text().splitlines()) == 3


def test_segmentation_methods_get_k_from_the_mapping_and_kmeans_prototypes(tiny_dataset, tmp_path):
    run = train(tiny_config(tiny_dataset, tmp_path / "asot", method="asot", epochs=1), progress=False).path
    model, config = load_model(run)
    assert config["loss"]["n_clusters"] == len(FeatureFolder(tiny_dataset).class_names)
    video = FeatureFolder(tiny_dataset).load_split("val")[0]
    labels = model.segment(video.features)
    assert labels.shape == (len(video.features),) and labels.max() < config["loss"]["n_clusters"]


def test_more_actions_than_training_frames_is_one_clear_error(tiny_dataset, tmp_path):
    """Was scikit-learn's k-means ValueError from the prototypes' initialisation."""
    config = tiny_config(tiny_dataset, tmp_path / "asot", method="asot", epochs=1)
    config.loss["n_clusters"] = 100_000
    with pytest.raises(InputError, match="100000 actions .* need at least as many training frames"):
        train(config, progress=False)


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
    mp.spawn(_ddp_worker, args=(2, free_port(), str(tiny_dataset), str(tmp_path / "run"), str(digests)), nprocs=2)
    rank0, rank1 = (digests / "rank0").read_text(), (digests / "rank1").read_text()
    assert rank0 == rank1
    model, _ = load_model(tmp_path / "run")
    assert params_digest(model) == rank0


def _ddp_nan_worker(rank: int, world: int, port: int, data: str, out: str, reports: str) -> None:
    """Rank 1's loss turns NaN in the second epoch; every rank reports how its run ended."""
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)}
        | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    torch.set_num_threads(1)
    from vidalign import training

    forward, epochs, epoch_batches = training.PairForward.forward, [], training.PairSampler.epoch

    def nan_on_rank_1(self, batch):
        out = forward(self, batch)
        if rank == 1 and epochs[-1] == 1:
            out.loss = out.loss * float("nan")
        return out

    def recording_epoch(self, epoch):
        epochs.append(epoch)
        return epoch_batches(self, epoch)

    training.PairForward.forward = nan_on_rank_1
    training.PairSampler.epoch = recording_epoch
    try:
        training.train(tiny_config(Path(data), Path(out), epochs=2), progress=False)
        ended = "finished"
    except FloatingPointError as error:
        ended = str(error)
    Path(reports, f"rank{rank}").write_text(ended)
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_a_nan_loss_on_one_rank_stops_every_rank_before_rank_0_saves(tiny_dataset, tmp_path):
    """Checked on one rank after the optimiser step, a NaN loss there let the averaged NaN gradients into the
    weights that rank 0, whose own loss was finite, saved and checkpointed."""
    reports = tmp_path / "reports"
    reports.mkdir()
    mp.spawn(_ddp_nan_worker, args=(2, free_port(), str(tiny_dataset), str(tmp_path / "run"), str(reports)), nprocs=2)
    for rank in (0, 1):
        assert "non-finite loss at epoch 2" in (reports / f"rank{rank}").read_text()
    model, _ = load_model(tmp_path / "run")
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())
    assert json.loads((tmp_path / "run" / "config.json").read_text())["spread"]["epoch"] == 1


def _ddp_sums_worker(rank: int, world: int, port: int, reports: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    from vidalign.training import summed_over_ranks

    sums, n = summed_over_ranks({"loss": rank + 1.0, "sw_score": 10.0 * rank}, rank + 2, torch.device("cpu"))
    Path(reports, f"rank{rank}").write_text(json.dumps([sums, n]))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_the_logged_epoch_means_are_over_every_ranks_steps(tmp_path):
    """The log row was rank 0's steps alone; it is the mean over all ranks' steps."""
    mp.spawn(_ddp_sums_worker, args=(2, free_port(), str(tmp_path)), nprocs=2)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}").read_text()) == [{"loss": 3.0, "sw_score": 10.0}, 5]


def test_the_monitor_flags_an_encoder_that_maps_every_frame_to_one_point():
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(30, 16)).astype(np.float32) for _ in range(3)]
    model = VidalignModel("vaot", EncoderConfig(in_dim=16, kind="conv", hidden=16, n_layers=1, out_dim=8), {})
    assert not SpreadMonitor(videos, model.embed).measure(0)["collapsed"]
    with torch.no_grad():
        for name, value in model.encoder.named_parameters():
            value.zero_()
            if name.endswith("bias"):
                value.add_(1.0)  # constant output: every frame is the same point
    measured = SpreadMonitor(videos, model.embed).measure(3)
    assert measured["collapsed"] and measured["within"] == pytest.approx(1.0) and measured["epoch"] == 3


def test_non_finite_embeddings_stop_the_run_in_one_line(tiny_dataset, tmp_path, capsys):
    """A learning rate of 1e9 sent the weights to infinity: the spread check's SVD raised LinAlgError (a
    traceback); the run now stops with a DivergedError, which the CLI prints as one line."""
    from vidalign.errors import DivergedError

    videos = [np.ones((5, 16), np.float32), np.ones((6, 16), np.float32)]
    with pytest.raises(DivergedError, match="non-finite embeddings after epoch 3"):
        SpreadMonitor(videos, lambda video: np.full((len(video), 8), np.nan, np.float32)).measure(3)
    assert issubclass(DivergedError, FloatingPointError) and issubclass(DivergedError, ValueError)
    argv = ["train", "--data", str(tiny_dataset), "--method", "vaot", "--out", str(tmp_path / "run"), "--epochs", "2",
            "--set", "lr=1e30", "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "non-finite" in err and len(err.splitlines()) == 1


def test_training_logs_the_spread_of_every_epoch(tiny_dataset, tmp_path):
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=2), progress=False).path
    with (run / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"within", "across", "effective_rank"} <= set(rows[0])
    recorded = json.loads((run / "config.json").read_text())["spread"]
    model, _ = load_model(run)
    videos = [r.features for r in FeatureFolder(tiny_dataset).load_split("train")][:MONITORED_VIDEOS]
    expected = embedding_spread([model.embed(v) for v in videos])  # recomputed from the saved weights
    assert recorded["epoch"] == 2 and recorded["collapsed"] is False
    for key in ("within", "across", "effective_rank"):
        assert recorded[key] == pytest.approx(expected[key], abs=1e-4)
        assert float(rows[-1][key]) == pytest.approx(expected[key], abs=1e-4)
    units = [e / np.linalg.norm(e, axis=1, keepdims=True) for e in map(model.embed, videos)]
    path_means = [plain_dtw_path_mean(a @ b.T) for i, a in enumerate(units) for b in units[:i]]
    assert recorded["matched"] == pytest.approx(np.median(path_means), abs=1e-4)


def test_a_pair_unlike_the_training_recordings_is_untrusted_against_the_runs_own_level(tiny_dataset, tmp_path):
    """``spread.matched`` is the level ``align`` measures a pair against (vidalign.confidence,
    with_training_pairs): the same pair is trusted or not as the recorded level is low or high."""
    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    config = json.loads((run / "config.json").read_text())
    features = FeatureFolder(tiny_dataset).load_split("val")
    pair = features[0].features, features[1].features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_trained = va.align(*pair, model=run).confidence
    assert as_trained.training_similarity == config["spread"]["matched"]
    distance = (1 - as_trained.path_similarity) / as_trained.match_ratio
    assert distance == pytest.approx(max(1 - config["spread"]["matched"], MIN_TRAINING_DISTANCE), rel=1e-3)
    for level, unlike in ((1 - (1 - as_trained.path_similarity) / (MAX_MATCH_RATIO - 0.5), False),
                          (1 - (1 - as_trained.path_similarity) / (MAX_MATCH_RATIO + 0.5), True)):  # fmt: skip
        config["spread"]["matched"] = max(level, -1.0)
        (run / "config.json").write_text(json.dumps(config))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            confidence = va.align(*pair, model=run).confidence
        reasons = [r for r in confidence.reasons if "less alike than the model's training recordings" in r]
        assert bool(reasons) == unlike and (confidence.match_ratio > MAX_MATCH_RATIO) == unlike
    del config["spread"]["matched"]  # a run trained before the level was recorded
    (run / "config.json").write_text(json.dumps(config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert va.align(*pair, model=run).confidence.match_ratio is None


def test_a_collapsed_run_says_so_on_training_and_when_used(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(spread_module, "COLLAPSED_WITHIN", -1.0)  # every model counts as collapsed
    with pytest.warns(CollapseWarning, match="collapsed within videos"):
        run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    assert json.loads((run / "config.json").read_text())["spread"]["collapsed"] is True
    features = FeatureFolder(tiny_dataset).load_split("val")
    with pytest.warns(CollapseWarning, match=r"cannot be trusted"):
        va.align(features[0].features, features[1].features, model=run)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, features[0].features)
    np.save(b, features[1].features)
    assert main(["align", str(a), str(b), "--model", str(run), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert err.count("vidalign align: warning: model") == 1 and "collapsed within videos" in err


def test_a_model_from_before_the_training_check_warns_when_it_collapses_on_the_inputs(
    tiny_dataset, tmp_path, monkeypatch
):
    import shutil

    run = train(tiny_config(tiny_dataset, tmp_path / "run", epochs=1), progress=False).path
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    config = json.loads((old / "config.json").read_text())
    del config["spread"]  # as a run written before the collapse check
    (old / "config.json").write_text(json.dumps(config))
    features = FeatureFolder(tiny_dataset).load_split("val")
    monkeypatch.setattr(spread_module, "COLLAPSED_WITHIN", -1.0)  # every model counts as collapsed
    with pytest.warns(CollapseWarning, match="on these recordings"):
        va.align(features[0].features, features[1].features, model=old)
