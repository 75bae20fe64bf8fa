"""``lstmkit train``: the seed's flags, atomic best-so-far saves, strict loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmkit import models
from lstmkit.cli import main
from lstmkit.errors import LstmkitError
from lstmkit.models import TorchLSTM
from lstmkit.train import TrainConfig, parse_model_args, train

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 12


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert main(["gen-metadata", str(path), str(tmp_path / "meta.txt"), "400"]) == 0
    return path


def test_one_epoch_cli_run_saves_a_file_that_loads(tmp_path, dataset, capsys):
    save = tmp_path / "small_torch_8_2.pth"
    code = main(
        [
            "train",
            "--model-name",
            "TorchLSTM",
            "--model-args",
            "8,2",
            "--data-set",
            str(dataset),
            "--data-meta",
            str(tmp_path / "meta.txt"),
            "--num-epochs",
            "1",
            "--train-seq-size",
            "20",
            "--learning-rate",
            "0.01",
            "--stagnation-limit",
            "2",
            "--lr-reduction-factor",
            "0.5",
            "--model-save",
            str(save),
            "--seed",
            "0",
            "--batch-size",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "epoch 1: train" in out and f"wrote {save}" in out
    model = TorchLSTM(len(set(TEXT[:400])), 8, 2)
    model.load_model(save)
    assert model(torch.tensor([0])).shape == (1, model.char_size)


def test_training_lowers_the_loss_and_seed_repeats(tmp_path, dataset):
    def run():
        config = TrainConfig(
            data_set=str(dataset),
            model_args=(16, 1),
            num_epoch=3,
            train_seq_size=30,
            learning_rate=0.02,
            seed=3,
            progress=False,
            sample_length=10,
        )
        return train(config)

    first = run()
    assert first[-1].train_loss < first[0].train_loss
    assert [r.train_loss for r in run()] == [r.train_loss for r in first]


def test_learning_rate_falls_after_stagnation(tmp_path, dataset):
    config = TrainConfig(
        data_set=str(dataset),
        model_args=(4, 1),
        num_epoch=4,
        learning_rate=1e-9,
        stagnation_limit=1,
        lr_reduction_factor=0.5,
        seed=0,
        progress=False,
        sample_length=0,
        holdout=0.2,
    )
    reports = train(config)
    # With a negligible rate, no epoch after the first beats it, so each halves it.
    rates = [r.learning_rate for r in reports]
    assert rates[-1] < rates[0]


def test_custom_model_trains(tmp_path, dataset):
    save = tmp_path / "c_custom_6.pth"
    config = TrainConfig(
        data_set=str(dataset),
        model_name="CustomLSTM",
        model_args=(6,),
        num_epoch=1,
        train_seq_size=50,
        model_save=str(save),
        progress=False,
        sample_length=5,
    )
    train(config)
    models.CustomLSTM(len(set(TEXT)), 6).load_model(save)


def test_new_class_in_models_trains_without_changes(tmp_path, dataset, monkeypatch):
    class TinyRNN(nn.Module):
        """A class following only the seed's conventions: (N,) in, (N, K) out."""

        def __init__(self, char_size, hidden):
            super().__init__()
            self.k = char_size
            self.rnn = nn.RNN(char_size, hidden)
            self.decoder = nn.Linear(hidden, char_size)
            self.h = None

        def forward(self, seq):
            x = nn.functional.one_hot(seq, self.k).float()
            out, h = self.rnn(x, self.h)
            self.h = h.detach()
            return self.decoder(out)

        def reset_state(self):
            self.h = None

        def save_model(self, path):
            torch.save(self.state_dict(), path)

    monkeypatch.setattr(models, "TinyRNN", TinyRNN, raising=False)
    save = tmp_path / "tiny.pth"
    reports = train(
        TrainConfig(
            data_set=str(dataset),
            model_name="TinyRNN",
            model_args=(5,),
            num_epoch=1,
            train_seq_size=40,
            model_save=str(save),
            progress=False,
        )
    )
    assert save.exists() and reports[0].saved
    with pytest.raises(LstmkitError, match="--batch-size"):
        train(
            TrainConfig(
                data_set=str(dataset),
                model_name="TinyRNN",
                model_args=(5,),
                batch_size=2,
                progress=False,
            )
        )


def test_model_args_are_literals_only():
    assert parse_model_args("256, 2") == (256, 2)
    assert parse_model_args("") == ()
    with pytest.raises(LstmkitError, match="literals"):
        parse_model_args("__import__('os').getcwd()")


def test_model_load_of_another_shape_stops_before_training(tmp_path, dataset):
    other = tmp_path / "o_torch_9_1.pth"
    TorchLSTM(len(set(TEXT)), 9, 1).save_model(other)
    save = tmp_path / "n_torch_8_1.pth"
    config = TrainConfig(
        data_set=str(dataset),
        model_args=(8, 1),
        model_load=str(other),
        model_save=str(save),
        progress=False,
    )
    with pytest.raises(LstmkitError, match=r"wrong shapes .*\(36, 9\)"):
        train(config)
    assert not save.exists()


def test_save_name_must_match_the_model(tmp_path, dataset):
    config = TrainConfig(
        data_set=str(dataset),
        model_args=(8, 1),
        model_save=str(tmp_path / "x_torch_16_2.pth"),
        progress=False,
    )
    with pytest.raises(LstmkitError, match="x_torch_8_1.pth"):
        train(config)


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m_torch_4_1.pth"
    model = TorchLSTM(3, 4, 1)
    model.save_model(path)
    good = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save_model(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left
    monkeypatch.undo()
    TorchLSTM(3, 4, 1).load_model(path)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--num-epoch", "0"),
        ("--learning-rate", "-1"),
        ("--lr-reduction-factor", "2"),
        ("--batch-size", "0"),
    ],
)
def test_bad_numbers_are_named(dataset, capsys, flag, value):
    assert main(["train", "--data-set", str(dataset), flag, value]) == 2
    assert flag in capsys.readouterr().err


def test_max_seconds_ends_the_run_within_its_epoch(tmp_path, dataset, monkeypatch):
    import itertools
    import types

    from lstmkit import train as train_mod

    def run(max_seconds):
        config = TrainConfig(
            data_set=str(dataset),
            model_args=(8, 1),
            num_epoch=3,
            train_seq_size=20,
            seed=0,
            progress=False,
            sample_length=0,
            max_seconds=max_seconds,
            model_save=str(tmp_path / "cut_torch_8_1.pth"),
            overwrite=True,
        )
        return train(config)

    full = run(None)
    assert [r.characters for r in full] == [len(TEXT) - 1] * 3

    # A clock that moves one second per reading: the budget runs out mid-epoch 1.
    ticks = itertools.count()
    monkeypatch.setattr(
        train_mod, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks))
    )
    (cut,) = run(10.0)
    assert 0 < cut.characters < len(TEXT) - 1 and cut.characters % 20 == 0
    assert 0 < cut.train_seconds <= cut.seconds
    # The loss is averaged over the characters trained, not the whole text's.
    assert cut.saved and cut.train_loss > 0.8 * full[0].train_loss
    TorchLSTM(len(set(TEXT)), 8, 1).load_model(tmp_path / "cut_torch_8_1.pth")


def test_max_seconds_must_be_positive(dataset, capsys):
    assert main(["train", "--data-set", str(dataset), "--max-seconds", "0"]) == 2
    assert "--max-seconds" in capsys.readouterr().err


def test_dropout_only_for_classes_that_take_it(tmp_path, dataset):
    config = TrainConfig(
        data_set=str(dataset),
        model_args=(8, 2),
        num_epoch=1,
        dropout=0.3,
        progress=False,
        sample_length=0,
    )
    assert len(train(config)) == 1
    config.model_name, config.model_args = "CustomLSTM", (8,)
    with pytest.raises(LstmkitError, match="--dropout"):
        train(config)


def test_existing_save_file_is_kept_unless_forced_or_continued(tmp_path, dataset):
    save = tmp_path / "k_torch_4_1.pth"
    TorchLSTM(len(set(TEXT)), 4, 1).save_model(save)
    before = save.read_bytes()
    config = TrainConfig(
        data_set=str(dataset),
        model_args=(4, 1),
        num_epoch=1,
        model_save=str(save),
        progress=False,
        sample_length=0,
    )
    with pytest.raises(LstmkitError, match="already exists; pass --force"):
        train(config)
    assert save.read_bytes() == before

    config.model_load = str(save)  # continuing from the same file replaces it
    train(config)
    assert save.read_bytes() != before
    config.model_load, config.overwrite = None, True
    train(config)
