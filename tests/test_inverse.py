import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from lessonlib.data import COLOURS, SHAPES, SIZES, shapes_dataset
from lessonlib.inverse import (
    MiniCLIP,
    Tokenizer,
    all_captions,
    clip_loss,
    interrogate,
    invert,
    retrieval_accuracy,
    train_miniclip,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the chapter trains: on a busy machine, threads of so small a model
    wait for each other longer than they save."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model, history = train_miniclip(n_train=3000, epochs=8, seed=0)
    return model, history


def test_dataset_is_deterministic_per_seed():
    a = shapes_dataset(20, seed=3)
    b = shapes_dataset(20, seed=3)
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert not torch.equal(a[0], shapes_dataset(20, seed=4)[0])
    images, captions, attrs = a
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    for cap, s, c, z in zip(captions, attrs["shape"], attrs["colour"], attrs["size"]):
        assert cap == f"a {list(SIZES)[z]} {list(COLOURS)[c]} {SHAPES[s]}"


def test_shapes_have_their_colour():
    images, _, attrs = shapes_dataset(50, seed=1)
    rgb = torch.tensor(list(COLOURS.values()))[attrs["colour"]]
    # the brightest pixels of each image are its shape: their colour matches the caption's
    flat = images.flatten(2)  # (n, 3, pixels)
    top = flat.sum(1).argmax(1)
    picked = flat[torch.arange(50), :, top]
    assert (picked - rgb).abs().max() < 0.15


def test_training_beats_chance_by_far(trained):
    model, history = trained
    assert history[-1] < history[0]
    images, captions, _ = shapes_dataset(400, seed=99)
    # 24 possible captions: chance is 1/24 ≈ 0.04. With this training, seeds 0-2
    # scored 0.93-0.99 on 1,000 held-out images; the floor leaves room for platform noise.
    assert retrieval_accuracy(model, images, captions) > 0.8


def test_invert_reaches_the_target_far_from_the_original(trained):
    model, _ = trained
    images, _, _ = shapes_dataset(2, seed=5)
    target = model.encode_image(images[:1])[0].detach()
    g = torch.Generator().manual_seed(0)
    x, history = invert(model.encode_image, target, steps=400, init=torch.rand(3, 32, 32, generator=g),
                        original=images[0])
    cos, dist = history[-1]
    assert cos >= 0.99
    assert dist > 0.2  # RMS over pixels in [0, 1]: a different image with the same embedding
    assert x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1


def test_interrogate_matches_brute_force(trained):
    model, _ = trained
    images, _, _ = shapes_dataset(3, seed=7)
    emb = model.encode_image(images)[1]
    lists = {"size": list(SIZES), "colour": list(COLOURS), "shape": list(SHAPES), "style": ["photo", "drawing"]}
    best, scores = interrogate(emb, lists, model=model)
    brute = {}
    for combo in itertools.product(*lists.values()):
        cap = "a " + " ".join(combo)
        brute[cap] = (model.encode_text([cap])[0] @ emb).item()
    assert best == max(brute, key=brute.get)
    assert len(scores) == len(brute) == 48
    assert scores[0][1] == pytest.approx(max(brute.values()), abs=1e-6)


def _clip_inputs(n=6, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=-1)
    return img, txt


@pytest.mark.parametrize("log_scale", [0.0, math.log(10.0), math.log(100.0)])
def test_clip_loss_is_the_symmetric_cross_entropy_of_scaled_cosine_logits(log_scale):
    img, txt = _clip_inputs()
    scale = torch.tensor(log_scale, dtype=torch.float64)  # CLIP learns log(scale); the logits use exp of it
    logits = math.exp(log_scale) * img @ txt.T  # (image, caption) cosine similarities, scaled
    labels = torch.arange(len(img))  # image k goes with caption k
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_loss(img, txt, scale), expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(clip_loss(img, txt, scale, torch.eye(len(img), dtype=torch.bool)), expected,
                               rtol=1e-12, atol=0)
    assert float(expected) > 0.5  # random embeddings: far from a perfect (zero) loss


def test_clip_loss_with_equal_captions_matches_a_loop():
    img, txt = _clip_inputs(seed=1)
    n, log_scale = len(img), math.log(20.0)
    groups = [0, 1, 1, 2, 0, 1]  # images 0 and 4 share a caption, and 1, 2 and 5 another
    same = torch.tensor([[a == b for b in groups] for a in groups])
    sim = [[20.0 * sum(float(img[i, f]) * float(txt[j, f]) for f in range(img.shape[1])) for j in range(n)]
           for i in range(n)]

    def side(rows):
        """Mean over rows of -mean(log softmax) over the row's matching columns."""
        total = 0.0
        for r, row in enumerate(rows):
            log_z = math.log(sum(math.exp(v) for v in row))
            match = [c for c in range(n) if groups[c] == groups[r]]
            total += -sum(row[c] - log_z for c in match) / len(match)
        return total / n

    expected = (side(sim) + side([list(col) for col in zip(*sim)])) / 2
    got = clip_loss(img, txt, torch.tensor(log_scale, dtype=torch.float64), same)
    assert float(got) == pytest.approx(expected, rel=1e-10)
    # the equal captions count: it differs from the loss that wants only the diagonal
    assert float(clip_loss(img, txt, torch.tensor(log_scale, dtype=torch.float64))) != pytest.approx(expected, rel=1e-3)


def test_tokenizer_and_captions():
    tok = Tokenizer(["a", "red", "circle"])
    ids = tok(["a red circle", "a red unicorn"])
    assert ids.shape == (2, 3) and ids[1, 2] == 1  # unknown word -> <unk>
    assert len(all_captions()) == len(SIZES) * len(COLOURS) * len(SHAPES)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: shapes_dataset(0), r"n must be an int in \[1, 100000\], got 0"),
        (lambda m: shapes_dataset(3, size=8), r"size must be an int in \[16, 256\], got 8"),
        (lambda m: m.encode_image(torch.ones(3, 32, 32)), r"images must have shape \(n, 3, H, W\)"),
        (lambda m: invert(m.encode_image, torch.ones(2, 3), init=torch.rand(3, 32, 32)), "target must be a 1-D"),
        (lambda m: invert(m.encode_image, torch.ones(32), init=torch.rand(32, 32)), r"init must have shape \(3, H, W\)"),
        (lambda m: invert(m.encode_image, torch.ones(32), init=torch.rand(3, 32, 32), steps=0), "steps must be"),
        (lambda m: invert(m.encode_image, torch.ones(32), init=torch.rand(3, 32, 32), prior=-1.0), "prior must be"),
        (lambda m: interrogate(torch.ones(32), {}, model=m), "word_lists must be a non-empty dict"),
        (lambda m: interrogate(torch.ones(32), {"a": []}, model=m), r"word_lists\['a'\] must not be empty"),
        (lambda m: train_miniclip(epochs=0), "epochs must be an int in \\[1, 10000\\]"),
        (lambda m: MiniCLIP(dim=1), "dim must be an int in \\[2, 4096\\]"),
        (lambda m: retrieval_accuracy(m, torch.ones(2, 3, 32, 32), ["a"]), "2 images but 1 captions"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call(MiniCLIP())


def test_the_issues_bad_inputs_are_refused_by_name():
    m = MiniCLIP()
    with pytest.raises(TypeError, match="captions must be a sequence"):
        m.encode_text("a red circle")
    with pytest.raises(TypeError, match=r"words must be a sequence \(a list or tuple\), got 'a"):
        Tokenizer("a red circle")  # it made a vocabulary of letters before
    with pytest.raises(TypeError, match=r"word_lists\['shape'\] must be a sequence \(a list or tuple\), got 'circle'"):
        interrogate(torch.ones(32), {"shape": "circle"}, model=m)  # it iterated the letters before
    with pytest.raises(ValueError, match="images must be finite floating point"):
        m.encode_image(torch.ones(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"images must have shape \(n, 3, H, W\), none of them 0"):
        m.encode_image(torch.ones(1, 3, 0, 0))
    e = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    with pytest.raises(ValueError, match="same must have a True entry in every row"):  # NaN before
        clip_loss(e, e, torch.tensor(1.0), torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"bs must be an int in \[2, 4\], got 10"):  # none drawn
        train_miniclip(4, bs=10)
    with pytest.raises(TypeError, match="seed must be an int, got 2.5"):
        train_miniclip(4, bs=2, seed=2.5)
    with pytest.raises(TypeError, match="lr must be a number"):
        train_miniclip(4, bs=2, lr="x")


def test_float64_images_give_the_float32_embedding():
    m = MiniCLIP()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(m.encode_image(x.double()), m.encode_image(x))


def test_plot_two_towers_shows_the_models_own_similarities(trained):
    import matplotlib

    matplotlib.use("Agg")
    from lessonlib.inverse import plot_two_towers

    model, _ = trained
    images, captions, _ = shapes_dataset(60, seed=11)
    pick = [captions.index(c) for c in dict.fromkeys(captions)][:6]
    imgs, caps = images[pick], [captions[i] for i in pick]
    fig = plot_two_towers(model, imgs, caps)
    shown = torch.tensor(fig.axes[2].images[0].get_array().data)
    # independently: cosine of every image embedding with every caption embedding, by torch's own function
    with torch.no_grad():
        want = F.cosine_similarity(model.encode_image(imgs)[:, None], model.encode_text(caps)[None], dim=-1)
    torch.testing.assert_close(shown.float(), want, atol=1e-5, rtol=0)
    off = want.clone().fill_diagonal_(-2)
    assert bool((want.diagonal() > off.max(1).values).all())  # the matched pairs win
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_two_towers_captions_neither_overlap_nor_leave_their_panel(trained):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lessonlib.inverse import plot_two_towers

    model, _ = trained
    images, captions, _ = shapes_dataset(1000, seed=1234)
    # "photo" and "drawing" are both <unk> to the model: two captions, one point, two labels on it
    six = ["a small red circle photo", "a small red circle drawing", "a small red square", "a large red circle",
           "a small blue circle", "a large green square"]
    pick = [captions.index(" ".join(c.split()[:4])) for c in six]
    fig = plot_two_towers(model, images[pick], six)
    fig.canvas.draw()
    renderer, ax = fig.canvas.get_renderer(), fig.axes[1]
    frame = ax.get_window_extent(renderer)
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert sorted(boxes) == sorted(c.removeprefix("a ") for c in six)
    from matplotlib.text import Text

    assert min(t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()) >= 10
    for k, (text, box) in enumerate(boxes.items()):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, text
        assert not [other for other, b in list(boxes.items())[k + 1:] if box.overlaps(b)], text
    plt.close(fig)


@pytest.mark.parametrize("args, error, match", [
    (("nope", None, None), TypeError, "model"),
    ((None, torch.rand(1, 3, 8, 8), ["a"]), ValueError, "n from 2 to 12"),
    ((None, torch.rand(2, 3, 8, 8), ["a small red circle"]), ValueError, "one caption per image"),
    ((None, torch.rand(2, 3, 8, 8), ["a small red circle"] * 2), ValueError, "all differ"),
    ((None, torch.rand(2, 3, 8, 8), "ab"), TypeError, "captions"),
])
def test_plot_two_towers_refuses_bad_input(args, error, match):
    from lessonlib.inverse import plot_two_towers

    model = MiniCLIP() if args[0] is None else args[0]
    with pytest.raises(error, match=match):
        plot_two_towers(model, *args[1:]) if args[1] is not None else plot_two_towers(model, torch.rand(2, 3, 8, 8), [])
