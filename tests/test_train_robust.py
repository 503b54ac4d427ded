"""The robust training options: camera-like augmentations, rendered digits, outlier exposure."""

from __future__ import annotations

import json

import pytest

from _support import requires_torch

pytestmark = requires_torch


def _batch(torch):
    from edgedigits.samples import load_sample

    images = load_sample("heldout")[0][:64]
    return torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1)


def test_robust_augmentation_is_deterministic_and_in_range():
    import torch

    from edgedigits.train import _augment, robust_config

    aug = robust_config().augment
    x = _batch(torch)
    a = _augment(torch, x.clone(), aug, torch.Generator().manual_seed(1))
    b = _augment(torch, x.clone(), aug, torch.Generator().manual_seed(1))
    c = _augment(torch, x.clone(), aug, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_each_new_augmentation_changes_the_batch():
    import torch

    from edgedigits.train import Augment, _augment

    off = dict(
        rotate_deg=0.0,
        scale=(1.0, 1.0),
        shift_px=0.0,
        shear_deg=0.0,
        thickness_p=0.0,
        contrast=(1.0, 1.0),
        noise_std=0.0,
        blur_p=0.0,
    )
    x = _batch(torch)
    plain = _augment(torch, x.clone(), Augment(**off), torch.Generator().manual_seed(0))
    assert torch.allclose(plain, x, atol=1e-5)  # everything off: the batch passes unchanged
    for extra in (
        {"elastic_p": 1.0},
        {"light_p": 1.0},
        {"noise_p": 1.0},
        {"blur_p": 1.0, "blur_sigma_max": 1.3},
        {"lowres_p": 1.0},
        {"thickness_p": 1.0, "stroke_range": (1.5, 2.0)},
    ):
        y = _augment(torch, x.clone(), Augment(**{**off, **extra}), torch.Generator().manual_seed(0))
        assert (y - x).abs().mean() > 0.01, extra


def test_robust_config_rejects_unknown_and_bad_options():
    from edgedigits.errors import UsageError
    from edgedigits.train import robust_config

    with pytest.raises(UsageError, match="unknown training option 'epochz'"):
        robust_config(epochz=3)
    with pytest.raises(UsageError, match="outlier_weight must be >= 0"):
        robust_config(outlier_weight=-1.0).validate()


def test_a_short_robust_run_records_its_recipe(tmp_path, mnist_dir):
    from edgedigits.train import robust_config, train

    cfg = robust_config(
        model="digitnet_xs", epochs=1, subset=1024, val_size=200, outlier_pool=300, rendered_digits=200, init_from=""
    )
    bundle = train(cfg, tmp_path / "run", data_dir=mnist_dir, threads=1, progress=False, log=lambda *a: None)
    recipe = json.loads((bundle / "manifest.json").read_text())["training"]["recipe"]
    assert recipe["outlier_weight"] == 0.5 and recipe["rendered_digits"] == 200
    assert recipe["train_images"] == 1024 + 200
    assert recipe["augment"]["light_p"] > 0 and recipe["augment"]["elastic_p"] > 0


def test_init_from_must_name_weights(tmp_path, mnist_dir):
    from edgedigits.errors import UsageError
    from edgedigits.train import robust_config, train

    cfg = robust_config(
        model="digitnet_xs",
        epochs=1,
        subset=512,
        val_size=200,
        outlier_pool=100,
        rendered_digits=0,
        init_from=str(tmp_path / "nothing"),
    )
    with pytest.raises(UsageError, match="neither a weights.pt file nor a bundle folder"):
        train(cfg, tmp_path / "run", data_dir=mnist_dir, threads=1, progress=False, log=lambda *a: None)


def test_the_shipped_recipe_fine_tunes_a_given_model_and_refuses_other_architectures(tmp_path, mnist_dir, cli):
    import torch

    from edgedigits.errors import UsageError
    from edgedigits.models import create_model
    from edgedigits.train import _initial_weights, base_config, shipped_config, train

    cfg = shipped_config()
    assert (cfg.model, cfg.val_size, cfg.clean_fraction) == ("digitnet_sf", 2000, 0.5)
    assert cfg.clean_augment == base_config().augment and cfg.outlier_weight > 0
    # the shipped bundle's weights are a digitnet_sf state dict, usable as a starting point
    assert set(_initial_weights(torch, "default")) == set(create_model("digitnet_sf").state_dict())
    wrong = shipped_config(
        model="digitnet_xs",
        epochs=1,
        subset=512,
        val_size=200,
        outlier_pool=100,
        rendered_digits=0,
        init_from="default",
    )
    with pytest.raises(UsageError, match="weights of another architecture than digitnet_xs"):
        train(wrong, tmp_path / "run", data_dir=mnist_dir, threads=1, progress=False, log=lambda *a: None)
    r = cli("train", "--recipe", "shipped", "--out", tmp_path / "cli", "--data", mnist_dir)
    assert r.returncode != 0 and "pass --init-from" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "cli").exists()


def test_clean_replay_keeps_its_share_of_the_batch_under_the_clean_augmentation():
    import torch

    from edgedigits.errors import UsageError
    from edgedigits.train import Augment, _augment_batch, robust_config

    off = Augment(
        rotate_deg=0.0,
        scale=(1.0, 1.0),
        shift_px=0.0,
        shear_deg=0.0,
        thickness_p=0.0,
        contrast=(1.0, 1.0),
        noise_std=0.0,
        blur_p=0.0,
    )
    x = _batch(torch)  # 64 digits
    cfg = robust_config(clean_fraction=0.25, clean_augment=off)
    y = _augment_batch(torch, x.clone(), cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(y[:16], x[:16], atol=1e-5)  # the clean quarter passes unchanged
    assert (y[16:] - x[16:]).abs().mean() > 0.01  # the rest gets the robust augmentation
    with pytest.raises(UsageError, match="clean_fraction must be in"):
        robust_config(clean_fraction=1.0).validate()


def test_stretch_to_box_fills_the_box_and_leaves_others_alone():
    import torch

    from edgedigits.train import _stretch_to_box

    x = torch.zeros(2, 1, 28, 28)
    x[:, 0, 4:24, 12:16] = 1.0  # a thin upright bar, like a '1'
    on = torch.tensor([True, False])
    y = _stretch_to_box(torch, x, on)
    cols = (y[0, 0] > 0.5).any(0).nonzero()
    assert cols.max() - cols.min() + 1 >= 18  # now about 20 pixels wide: a wide bar
    assert torch.equal(y[1], x[1])
    empty = _stretch_to_box(torch, torch.zeros(1, 1, 28, 28), torch.tensor([True]))
    assert not empty.any()


def test_the_refuse_recipe_draws_letters_of_many_scripts_and_marks():
    from edgedigits import synth
    from edgedigits.train import FINE_TUNES, refuse_config

    cfg = refuse_config()
    assert "refuse" in FINE_TUNES and cfg.augment.stretch_p > 0 and cfg.outlier_weight > 0
    assert set(synth.FONT_KINDS + synth.FORM_KINDS + synth.NEGATIVE_KINDS) == set(cfg.outlier_kinds)
