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


@pytest.mark.parametrize("kw, error, match", [
    ({"n_train": 0}, ValueError, r"n_train must be an int in \[1, 1000000\], got 0"),
    ({"n_valid": -1}, ValueError, r"n_valid must be an int in \[1, 1000000\], got -1"),
    ({"n_train": 2.5}, TypeError, "n_train must be an int, got 2.5"),
    ({"seed": 2.5}, TypeError, "seed must be an int"),
    ({"seed": -3}, ValueError, "seed must be an int in"),
])
def test_mnist_like_rejects(kw, error, match):
    with pytest.raises(error, match=match):
        mnist_like(**kw)


def test_lecture_weights_match_the_lecture_recipe():
    torch.manual_seed(1)
    torch.testing.assert_close(lecture_weights(), torch.randn(784, 10))


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields its base address."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits for serve_forever's next poll: 20 ms, not the default 0.5 s per test
    serve = functools.partial(server.serve_forever, poll_interval=0.02)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_downloads_checks_and_loads(local_server, tmp_path):
    import hashlib

    from lessonlib.data import fetch

    root, base = local_server
    data = _write_mnist(root / "mnist.pkl.gz")
    blob = (root / "mnist.pkl.gz").read_bytes()
    dest = tmp_path / "data" / "mnist.pkl.gz"
    got = fetch(f"{base}/mnist.pkl.gz", dest, sha256=hashlib.sha256(blob).hexdigest())
    assert got == dest and dest.read_bytes() == blob
    (xt, _), _ = load_mnist(dest)
    np.testing.assert_array_equal(xt.numpy(), data[0][0])
    (root / "mnist.pkl.gz").unlink()  # already there and right: no second download
    assert fetch(f"{base}/mnist.pkl.gz", dest, sha256=hashlib.sha256(blob).hexdigest()) == dest


def test_fetch_refuses_a_wrong_checksum_and_keeps_nothing(local_server, tmp_path):
    from lessonlib.data import fetch

    root, base = local_server
    _write_mnist(root / "mnist.pkl.gz")
    dest = tmp_path / "mnist.pkl.gz"
    with pytest.raises(ValueError, match="checksum mismatch.*SHA-256 .*expected 0{64}.*not kept"):
        fetch(f"{base}/mnist.pkl.gz", dest, sha256="0" * 64)
    assert not dest.exists() and list(tmp_path.glob("tmp*")) == []
    with pytest.raises(ValueError, match="git blob id"):
        fetch(f"{base}/mnist.pkl.gz", dest, git_blob="1" * 40)


def test_fetch_validates_its_arguments(tmp_path):
    from lessonlib.data import fetch

    with pytest.raises(ValueError, match="give sha256 or git_blob"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x")
    with pytest.raises(ValueError, match="url must be an http"):
        fetch("file:///etc/passwd", tmp_path / "x", sha256="0" * 64)
    with pytest.raises(TypeError, match="url must be a str"):
        fetch(None)
    with pytest.raises(ValueError, match="sha256 must be 64 hex digits"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc")
    with pytest.raises(TypeError, match="git_blob must be a hex str"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", git_blob=123)


def test_git_blob_id_agrees_with_git(tmp_path):
    import shutil
    import subprocess

    from lessonlib.data import git_blob_id

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    f = tmp_path / "f.bin"
    f.write_bytes(bytes(range(256)) * 3)
    expected = subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True, check=True).stdout.strip()
    assert git_blob_id(f.read_bytes()) == expected


def test_fetch_command_line(local_server, tmp_path, capsys):
    import hashlib

    from lessonlib.data import main

    root, base = local_server
    _write_mnist(root / "m.pkl.gz")
    digest = hashlib.sha256((root / "m.pkl.gz").read_bytes()).hexdigest()
    dest = tmp_path / "m.pkl.gz"
    assert main(["fetch", "--url", f"{base}/m.pkl.gz", "--sha256", digest, "--out", str(dest)]) == 0
    assert digest in capsys.readouterr().out
    assert main(["fetch", "--url", f"{base}/m.pkl.gz", "--sha256", "f" * 64, "--out", str(tmp_path / "n")]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


# ---------------------------------------------------------------- the clustering benchmarks' data


def test_cluster_data_shapes_dtypes_and_seed():
    import torch

    from lessonlib.data import cluster_data

    X, Q = cluster_data("knn", 50)
    assert X.shape == (50, 16) and Q.shape == (1000, 16)
    X, Q = cluster_data("knn32", 50)
    assert X.shape == (50, 32) and Q.shape == (1000, 32) and X.dtype == torch.float32
    assert cluster_data("kmeans16", 40).shape == (40, 16) and cluster_data("kmeans", 40).dtype == torch.float64
    assert cluster_data("dbscan", 40).dtype == torch.float32
    assert torch.equal(cluster_data("dbscan", 40, seed=3), cluster_data("dbscan", 40, seed=3))
    assert not torch.equal(cluster_data("dbscan", 40, seed=3), cluster_data("dbscan", 40, seed=4))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"what": "kmedoids", "n": 100}, ValueError, "what must be one of"),
    ({"what": 3, "n": 100}, TypeError, "what must be a str"),
    ({"what": "dbscan", "n": 3}, ValueError, r"n must be an int in \[10, 10000000\], got 3"),
    ({"what": "dbscan", "n": 20.0}, TypeError, "n must be an int"),
    ({"what": "dbscan", "n": 20, "seed": 2.5}, TypeError, "seed must be an int, got 2.5"),
    ({"what": "dbscan", "n": 20, "seed": -1}, ValueError, "seed must be an int"),
])
def test_cluster_data_validates(kwargs, error, message):
    from lessonlib.data import cluster_data

    with pytest.raises(error, match=message):
        cluster_data(**kwargs)


def test_load_mnist_on_a_file_that_is_not_gzip_names_the_argument(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"path .*mnist.pkl.gz is not a gzip-compressed pickle"):
        load_mnist(path)
    import gzip

    path.write_bytes(gzip.compress(b"gzip, but no pickle inside"))
    with pytest.raises(ValueError, match="is not a gzip-compressed pickle"):
        load_mnist(path)
