"""Losses (functional and modules) against PyTorch (forward and gradients), float64 gradcheck,
closed forms, reductions, ignore_index, class weights, label smoothing, probability targets, extra dims."""
import math

import numpy as np
import pytest

import numtorch
from numtorch import nn
from numtorch.nn import functional as F

gradcheck = numtorch.autograd.gradcheck
RNG = np.random.default_rng(0)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _both(torch, arr, grad=True):
    return (numtorch.tensor(arr, requires_grad=grad and arr.dtype.kind == "f"),
            torch.tensor(arr, requires_grad=grad and arr.dtype.kind == "f"))


def check(torch, name, arrays, rtol=1e-10, **kw):
    """Forward and the gradients of every float input equal PyTorch's (``arrays`` are NumPy; weights in kw)."""
    ours = [numtorch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    kw_n = {k: numtorch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    kw_t = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    y = getattr(F, name)(*ours, **kw_n)
    yt = getattr(torch.nn.functional, name)(*theirs, **kw_t)
    assert tuple(y.shape) == tuple(yt.shape)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=1e-12)
    g = RNG.standard_normal(tuple(yt.shape))
    y.backward(numtorch.tensor(g))
    yt.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=1e-12)
    return ours


def _logits(*shape):
    return RNG.standard_normal(shape) * 2


def _labels(n_classes, *shape):
    return RNG.integers(0, n_classes, shape)


# ---- regression -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(torch, name, reduction):
    x, t = _logits(4, 3), _logits(4, 3)
    check(torch, name, [x, t], reduction=reduction)
    xs = [numtorch.tensor(x, requires_grad=True), numtorch.tensor(t, requires_grad=True)]
    assert gradcheck(lambda a, b: getattr(F, name)(a, b, reduction=reduction), xs)


def test_smooth_l1_and_huber_parameters(torch):
    x, t = _logits(5, 2), _logits(5, 2)
    check(torch, "smooth_l1_loss", [x, t], beta=0.5)
    check(torch, "smooth_l1_loss", [x, t], beta=0.0)
    check(torch, "huber_loss", [x, t], delta=2.5)


def test_mse_closed_form_and_textbook():
    y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]])
    t = np.zeros((1, 10))
    t[0, 2] = 1
    loss = F.mse_loss(numtorch.tensor(y), numtorch.tensor(t), reduction="sum").item()
    assert math.isclose(loss, ((y - t) ** 2).sum(), rel_tol=1e-12)
    from numtorch.nn.textbook import sum_squared_error
    assert math.isclose(sum_squared_error(numtorch.tensor(y), numtorch.tensor(t)).item(), 0.5 * loss, rel_tol=1e-12)
    assert math.isclose(sum_squared_error(numtorch.tensor(y), numtorch.tensor(t)).item(), 0.0975, rel_tol=1e-9)


# ---- cross-entropy ------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_indices(torch, reduction, smoothing, weighted):
    x, t = _logits(6, 5), _labels(5, 6)
    t[2] = -100  # ignored
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = RNG.uniform(0.2, 2.0, 5)
    check(torch, "cross_entropy", [x, t], **kw)
    w = None if not weighted else numtorch.tensor(kw["weight"])
    assert gradcheck(lambda a: F.cross_entropy(a, numtorch.tensor(t), weight=w, reduction=reduction,
                                               label_smoothing=smoothing), (numtorch.tensor(x, requires_grad=True),))


def test_cross_entropy_ignore_index_custom_and_extra_dims(torch):
    x, t = _logits(2, 4, 3, 2), _labels(4, 2, 3, 2)
    t[0, 1, 1] = 3
    check(torch, "cross_entropy", [x, t], ignore_index=3)
    check(torch, "cross_entropy", [x, t], reduction="none", label_smoothing=0.1, weight=np.arange(1.0, 5.0))
    x1 = _logits(5)
    check(torch, "cross_entropy", [x1, np.array(2)])
    check(torch, "cross_entropy", [x1, np.array(2)], reduction="none")


def test_cross_entropy_probability_targets(torch):
    x = _logits(4, 3)
    p = RNG.uniform(size=(4, 3))
    p /= p.sum(1, keepdims=True)
    for kw in [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2},
               {"weight": np.array([0.5, 1.0, 2.0])}]:
        check(torch, "cross_entropy", [x, p], **kw)
    x3, p3 = _logits(2, 3, 4), RNG.uniform(size=(2, 3, 4))
    check(torch, "cross_entropy", [x3, p3])
    assert gradcheck(lambda a, b: F.cross_entropy(a, b), (numtorch.tensor(x, requires_grad=True),
                                                          numtorch.tensor(p, requires_grad=True)))


def test_cross_entropy_closed_form_and_stability():
    x = np.array([[1000.0, 1001.0, 999.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    t = np.array([1, 2])
    loss = F.cross_entropy(numtorch.tensor(x), numtorch.tensor(t), reduction="none").numpy()
    lse = 1001 + np.log(np.exp(-1) + 1 + np.exp(-2))
    np.testing.assert_allclose(loss, [lse - 1001, np.log(3)], rtol=1e-6)
    xt = numtorch.tensor(x, requires_grad=True)
    F.cross_entropy(xt, numtorch.tensor(t)).backward()
    e = np.exp(x - x.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    p[[0, 1], t] -= 1
    np.testing.assert_allclose(xt.grad.numpy(), p / 2, rtol=1e-6, atol=1e-7)  # (softmax - onehot) / N
    assert xt.grad.dtype == numtorch.float32
    assert F.cross_entropy(numtorch.tensor(x), numtorch.tensor(t)).dtype == numtorch.float32


def test_cross_entropy_equals_log_softmax_nll():
    x, t = numtorch.tensor(_logits(5, 4)), numtorch.tensor(_labels(4, 5))
    a = F.cross_entropy(x, t)
    b = F.nll_loss(F.log_softmax(x, 1), t)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)


def test_cross_entropy_double_backward():
    x = numtorch.tensor(_logits(3, 4), requires_grad=True)
    t = numtorch.tensor(_labels(4, 3))
    for kw in [{}, {"label_smoothing": 0.1, "weight": numtorch.tensor([1.0, 2.0, 0.5, 1.0], dtype=numtorch.float64)},
               {"reduction": "none"}]:
        assert numtorch.autograd.gradgradcheck(lambda a: F.cross_entropy(a, t, **kw), (x,))


def test_cross_entropy_errors():
    x = numtorch.randn(3, 4)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, numtorch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.cross_entropy(x, numtorch.tensor([0, 1]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, numtorch.tensor([0, 1, 2]), reduction="avg")


def test_cross_entropy_textbook_helper():
    from numtorch.nn.textbook import cross_entropy_error
    y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]])
    t = np.zeros((1, 10))
    t[0, 2] = 1
    assert math.isclose(cross_entropy_error(numtorch.tensor(y), numtorch.tensor(t)).item(), -math.log(0.6 + 1e-7),
                        rel_tol=1e-12)
    # on probabilities from softmax it is the library's cross_entropy on the logits (up to the 1e-7)
    # (own seed: the module's RNG state depends on which tests ran before in the same worker)
    rng = np.random.default_rng(5)
    logits, labels = rng.standard_normal((4, 3)) * 2, rng.integers(0, 3, 4)
    probs = F.softmax(numtorch.tensor(logits), 1)
    onehot = np.eye(3)[labels]
    ours = cross_entropy_error(probs, numtorch.tensor(onehot)).item()
    lib = F.cross_entropy(numtorch.tensor(logits), numtorch.tensor(labels)).item()
    # the 1e-7 moves each sample's loss by log(1 + 1e-7 / p_t) <= 1e-7 / p_t (float64 reference p)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p_t = (p / p.sum(1, keepdims=True))[np.arange(4), labels]
    assert abs(ours - (-np.log(p_t + 1e-7).mean())) < 1e-12
    assert abs(ours - lib) <= (1e-7 / p_t).mean() + 1e-12
    # label (index) targets are accepted too, as in the notes
    assert math.isclose(cross_entropy_error(probs, numtorch.tensor(labels)).item(), ours, rel_tol=1e-12)


# ---- nll, binary, kl --------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(torch, reduction):
    x, t = _logits(5, 4), _labels(4, 5)
    t[0] = -100
    check(torch, "nll_loss", [x, t], reduction=reduction)
    check(torch, "nll_loss", [x, t], reduction=reduction, weight=RNG.uniform(0.5, 2, 4))
    check(torch, "nll_loss", [_logits(2, 4, 3), _labels(4, 2, 3)], reduction=reduction)
    assert gradcheck(lambda a: F.nll_loss(a, numtorch.tensor(t), reduction=reduction),
                     (numtorch.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(torch, reduction):
    p = RNG.uniform(0.05, 0.95, (4, 3))
    t = RNG.uniform(0, 1, (4, 3))
    check(torch, "binary_cross_entropy", [p, t], reduction=reduction)
    check(torch, "binary_cross_entropy", [p, t], reduction=reduction, weight=RNG.uniform(0.5, 2, (4, 3)))
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                     (numtorch.tensor(p, requires_grad=True), numtorch.tensor(t, requires_grad=True)))


def test_binary_cross_entropy_edges(torch):
    p = np.array([0.0, 1.0, 0.5])
    t = np.array([0.0, 1.0, 1.0])
    pn, tn = numtorch.tensor(p, requires_grad=True), numtorch.tensor(t, requires_grad=True)
    pt = torch.tensor(p, requires_grad=True)
    y = F.binary_cross_entropy(pn, tn, reduction="none")
    yt = torch.nn.functional.binary_cross_entropy(pt, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy())
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(pn.grad.numpy(), pt.grad.numpy())
    # the target's gradient is the derivative of the clamped loss: clamp(log(1 - p)) - clamp(log p)
    # (PyTorch leaves these logs unclamped and returns inf at p = 0 and p = 1)
    np.testing.assert_allclose(tn.grad.numpy(), [100.0, -100.0, 0.0])
    np.testing.assert_allclose(F.binary_cross_entropy(numtorch.tensor([0.0]), numtorch.tensor([1.0])).item(), 100.0)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(numtorch.tensor([1.5]), numtorch.tensor([1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(torch, reduction):
    x, t = _logits(4, 3) * 3, RNG.uniform(0, 1, (4, 3))
    check(torch, "binary_cross_entropy_with_logits", [x, t], reduction=reduction)
    check(torch, "binary_cross_entropy_with_logits", [x, t], reduction=reduction,
          pos_weight=np.array([1.0, 2.0, 0.5]), weight=RNG.uniform(0.5, 2, (4, 3)))
    pw = numtorch.tensor([1.0, 2.0, 0.5], dtype=numtorch.float64, requires_grad=True)
    assert gradcheck(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c, reduction=reduction),
                     (numtorch.tensor(x, requires_grad=True), numtorch.tensor(t, requires_grad=True), pw))


def test_bce_with_logits_stable_for_huge_logits():
    x = numtorch.tensor([-1e4, 1e4, -50.0, 50.0])
    t = numtorch.tensor([1.0, 0.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        loss = F.binary_cross_entropy_with_logits(x, t, reduction="none").numpy()
    np.testing.assert_allclose(loss, [1e4, 1e4, math.log1p(math.exp(-50)), math.log1p(math.exp(-50))], rtol=1e-6)


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(torch, reduction, log_target):
    x = np.log(RNG.dirichlet(np.ones(4), 3))
    t = RNG.dirichlet(np.ones(4), 3)
    t[0, 1] = 0.0
    if log_target:
        t = np.log(t + 0.01)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(torch, "kl_div", [x, t], reduction=reduction, log_target=log_target)
    tn = numtorch.tensor(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gradcheck(lambda a: F.kl_div(a, tn, reduction=reduction, log_target=log_target),
                         (numtorch.tensor(x, requires_grad=True),))


# ---- modules ------------------------------------------------------------------------------------

def test_loss_modules_match_torch(torch):
    x, t = _logits(4, 3), _labels(3, 4)
    w = np.array([1.0, 2.0, 0.5])
    pairs = [
        (nn.CrossEntropyLoss(numtorch.tensor(w), label_smoothing=0.1), torch.nn.CrossEntropyLoss(torch.tensor(w),
                                                                                              label_smoothing=0.1), t),
        (nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), t),
        (nn.MSELoss(), torch.nn.MSELoss(), _logits(4, 3)),
        (nn.L1Loss(reduction="none"), torch.nn.L1Loss(reduction="none"), _logits(4, 3)),
        (nn.SmoothL1Loss(beta=0.3), torch.nn.SmoothL1Loss(beta=0.3), _logits(4, 3)),
        (nn.HuberLoss(delta=0.7), torch.nn.HuberLoss(delta=0.7), _logits(4, 3)),
        (nn.BCEWithLogitsLoss(pos_weight=numtorch.tensor(w)), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)),
         RNG.uniform(size=(4, 3))),
        (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), RNG.dirichlet(np.ones(3), 4)),
    ]
    for ours, theirs, target in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        y = ours(numtorch.tensor(x), numtorch.tensor(target))
        yt = theirs(torch.tensor(x), torch.tensor(target))
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-10, err_msg=type(ours).__name__)
    bce, tbce = nn.BCELoss(), torch.nn.BCELoss()
    p = RNG.uniform(0.1, 0.9, (4, 3))
    np.testing.assert_allclose(bce(numtorch.tensor(p), numtorch.tensor(p)).item(),
                               tbce(torch.tensor(p), torch.tensor(p)).item(), rtol=1e-12)


def test_weight_buffer_moves_with_module():
    m = nn.CrossEntropyLoss(weight=numtorch.tensor([1.0, 2.0]))
    assert list(m.state_dict()) == ["weight"]
    m.double()
    assert m.weight.dtype == numtorch.float64
    assert list(nn.CrossEntropyLoss().state_dict()) == []


def test_legacy_size_average_reduce():
    x, t = numtorch.tensor(_logits(3, 2)), numtorch.tensor(_logits(3, 2))
    with pytest.warns(UserWarning):
        a = F.mse_loss(x, t, size_average=False)
    np.testing.assert_allclose(a.item(), F.mse_loss(x, t, reduction="sum").item())


# ---- margin / embedding losses (composites) ----------------------------------------------------

def test_margin_and_embedding_losses(torch):
    x1, x2 = _logits(5, 4), _logits(5, 4)
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    labels = (RNG.uniform(size=(5, 4)) > 0.5).astype(np.float64)
    for reduction in ["mean", "sum", "none"]:
        check(torch, "margin_ranking_loss", [x1[:, 0].copy(), x2[:, 0].copy(), y], margin=0.3, reduction=reduction)
        check(torch, "hinge_embedding_loss", [x1, np.sign(x2)], margin=0.7, reduction=reduction)
        check(torch, "cosine_embedding_loss", [x1, x2, y], margin=0.1, reduction=reduction)
        check(torch, "multilabel_soft_margin_loss", [x1, labels], reduction=reduction,
              weight=np.array([1.0, 2.0, 0.5, 1.5]))
        check(torch, "triplet_margin_loss", [x1, x2, _logits(5, 4)], margin=2.0, reduction=reduction)
        check(torch, "multi_margin_loss", [x1, _labels(4, 5)], reduction=reduction)
        check(torch, "multi_margin_loss", [x1, _labels(4, 5)], p=2, margin=0.5, reduction=reduction,
              weight=np.array([1.0, 2.0, 0.5, 1.5]))
    assert gradcheck(lambda a, b: F.cosine_embedding_loss(a, b, numtorch.tensor(y)),
                     (numtorch.tensor(x1, requires_grad=True), numtorch.tensor(x2, requires_grad=True)))
    t = numtorch.tensor(_labels(4, 5))
    assert gradcheck(lambda a: F.multi_margin_loss(a, t), (numtorch.tensor(x1, requires_grad=True),))


def test_similarities_and_gumbel(torch):
    x1, x2 = _logits(3, 5), _logits(3, 5)
    check(torch, "cosine_similarity", [x1, x2])
    check(torch, "cosine_similarity", [x1, x2[:1].copy()], dim=-1)
    check(torch, "pairwise_distance", [x1, x2], p=3.0)
    numtorch.manual_seed(0)
    logits = numtorch.tensor(_logits(4, 6), requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5, hard=True)
    a = y.detach().numpy()
    assert np.all(a.sum(1) == 1) and set(np.unique(a)) <= {0.0, 1.0}
    (y * numtorch.arange(6.0, dtype=numtorch.float64)).sum().backward()
    assert logits.grad is not None and np.all(np.isfinite(logits.grad.numpy()))
    soft = F.gumbel_softmax(logits, tau=1.0).detach().numpy()
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-12)


def test_cross_entropy_non_contiguous_and_empty(torch):
    x = _logits(4, 6)
    t = _labels(6, 4)
    xn = numtorch.tensor(x.T.copy(), requires_grad=True)  # (6, 4); its transpose is a non-contiguous view
    xt = torch.tensor(x.T.copy(), requires_grad=True)
    y = F.cross_entropy(xn.T, numtorch.tensor(t))
    yt = torch.nn.functional.cross_entropy(xt.T, torch.tensor(t))
    np.testing.assert_allclose(y.item(), yt.item(), rtol=1e-12)
    y.backward()
    yt.backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    empty = F.cross_entropy(numtorch.zeros(0, 3), numtorch.zeros(0, dtype=numtorch.int64), reduction="sum")
    assert empty.item() == 0.0
