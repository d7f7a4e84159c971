import gzip
import pickle

import numpy as np
import pytest
import torch

from lessonlib.data import default_mnist_path, lecture_weights, load_mnist, mnist_like


def _write_mnist(path, n_train=6, n_valid=4, pixels=784):
    rng = np.random.default_rng(0)
    split = lambda n: (rng.random((n, pixels), dtype=np.float32), rng.integers(0, 10, n))  # noqa: E731
    data = (split(n_train), split(n_valid), split(3))
    with gzip.open(path, "wb") as f:
        pickle.dump(data, f)
    return data


def test_load_mnist_reads_the_course_format(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    data = _write_mnist(path)
    (xt, yt), (xv, yv) = load_mnist(path)
    assert xt.shape == (6, 784) and xv.shape == (4, 784)
    assert xt.dtype == torch.float32 and yt.dtype == torch.int64
    np.testing.assert_array_equal(xt.numpy(), data[0][0])
    np.testing.assert_array_equal(yv.numpy(), data[1][1])


def test_load_mnist_default_path_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONLIB_DATA", str(tmp_path))
    assert default_mnist_path() == tmp_path / "mnist.pkl.gz"
    _write_mnist(tmp_path / "mnist.pkl.gz")
    assert load_mnist()[0][0].shape == (6, 784)


def test_load_mnist_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist_like"):
        load_mnist(tmp_path / "absent.pkl.gz")


def test_load_mnist_rejects_wrong_shapes(tmp_path):
    path = tmp_path / "bad.pkl.gz"
    _write_mnist(path, pixels=28)
    with pytest.raises(ValueError, match=r"train split has x \(6, 28\)"):
        load_mnist(path)


def test_mnist_like_shapes_dtype_range_and_seed():
    (xt, yt), (xv, yv) = mnist_like(500, 100, seed=3)
    assert xt.shape == (500, 784) and xv.shape == (100, 784) and yt.shape == (500,)
    assert xt.dtype == torch.float32 and yt.dtype == torch.int64
    assert 0 <= xt.min() and xt.max() < 1 and set(yt.tolist()) <= set(range(10))
    assert torch.equal(mnist_like(500, 100, seed=3)[0][0], xt)
    assert not torch.equal(mnist_like(500, 100, seed=4)[0][0], xt)


def test_mnist_like_default_shapes_are_mnist():
    (xt, _), (xv, _) = mnist_like()
    assert xt.shape == (50_000, 784) and xv.shape == (10_000, 784)


@pytest.mark.parametrize("kw", [{"n_train": 0}, {"n_valid": -1}, {"n_train": 2.5}])
def test_mnist_like_rejects(kw):
    with pytest.raises(ValueError, match="must be a positive int"):
        mnist_like(**kw)


def test_lecture_weights_match_the_lecture_recipe():
    torch.manual_seed(1)
    torch.testing.assert_close(lecture_weights(), torch.randn(784, 10))
