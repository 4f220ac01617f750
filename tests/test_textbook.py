"""numtorch.nn.textbook: each plain formula equals the fast library op, forward and gradients.

Everything runs in float64, and every tolerance is a rounding-error bound: a sum of n terms, each
evaluation of it, errs by at most about n eps sum|terms| (Higham's gamma_n), so two evaluations differ
by at most 2 n eps sum|terms|.  For ops linear in each input (linear, conv, unfold, pooling) sum|terms|
is the op itself on |inputs|, elementwise; for the others it is a magnitude stated beside each test,
and n counts the rounded steps and the conditioning (how much an input's rounding is amplified).
"""
import math

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch import nn
from numtorch.nn import textbook

EPS = float(np.finfo(np.float64).eps)
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _same_draws_in_any_order():
    """Every test draws from its own seeded generator, so its inputs do not depend on the test order."""
    global RNG
    RNG = np.random.default_rng(0)


def t64(*shape, scale=1.0, grad=True):
    return numtorch.tensor(RNG.standard_normal(shape) * scale, dtype=numtorch.float64, requires_grad=grad)


def np_(t) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_within(actual, expected, bound, what=""):
    """|actual - expected| <= bound, elementwise (bound: a number or an array)."""
    a, e = np_(actual), np_(expected)
    assert a.shape == e.shape, f"{what}: shapes {a.shape} != {e.shape}"
    err, b = np.abs(a - e), np.broadcast_to(np_(bound), a.shape)
    worst = np.max(err / np.where(b > 0, b, np.inf))
    assert (err <= b).all(), (f"{what}: error {err.max():.3g} over the bound (worst error/bound "
                              f"{worst:.3g}, or a nonzero error where the bound is 0)")


def uniform(shape):
    """An output gradient g with |g| <= 1 (the bounds below use that)."""
    return numtorch.tensor(RNG.uniform(-1, 1, shape), dtype=numtorch.float64)


def grads(out, inputs, g):
    """The gradients of sum(g * out) with respect to ``inputs`` (g: a fixed random output gradient)."""
    return numtorch.autograd.grad((out * g).sum(), inputs)


def check_linear_in_each(mine, library, inputs, n, absolute=True, **kw):
    """``mine == library`` for an op linear in each input: both sides sum products of the inputs.

    sum|terms| is the library op on |inputs| (forward), and the gradient of sum(|g| * op(|inputs|))
    (each gradient of sum(g * op) is itself a sum of products); n bounds the number of terms.
    ``absolute=False`` (max pooling, linear where the maximum lies): the op on the inputs themselves.
    """
    out, ref = mine(*inputs, **kw), library(*inputs, **kw)
    g = uniform(ref.shape)
    absolute = [x.detach().abs().requires_grad_() if absolute else x for x in inputs]
    size = library(*absolute, **kw)
    assert_within(out, ref, 2 * n * EPS * size.abs(), "forward")
    sizes = grads(size, absolute, g.abs())
    for i, (a, b, s) in enumerate(zip(grads(out, inputs, g), grads(ref, inputs, g), sizes)):
        assert_within(a, b, 2 * n * EPS * s, f"gradient of input {i}")


def check_scalar_bound(mine, library, inputs, bound_out, bound_grads, **kw):
    """Forward and every input's gradient within the given bounds (numbers or arrays)."""
    out, ref = mine(*inputs, **kw), library(*inputs, **kw)
    assert_within(out, ref, bound_out, "forward")
    g = uniform(ref.shape) if ref.ndim else numtorch.tensor(1.0, dtype=numtorch.float64)
    for i, (a, b) in enumerate(zip(grads(out, inputs, g), grads(ref, inputs, g))):
        assert_within(a, b, bound_grads[i] if isinstance(bound_grads, (list, tuple)) else bound_grads,
                      f"gradient of input {i}")


# ---- linear, convolution, pooling: linear in each input ------------------------------------------------

def test_linear():
    x, W, b = t64(4, 3, 7), t64(5, 7), t64(5)
    check_linear_in_each(textbook.linear, F.linear, [x, W, b], n=4 * 3 + 8)   # in + 1 terms; 12 rows into dW


def test_linear_without_bias():
    x, W = t64(6, 7), t64(5, 7)
    out = textbook.linear(x, W)
    assert_within(out, F.linear(x, W), 2 * 8 * EPS * F.linear(x.detach().abs(), W.detach().abs()))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(padding=1), dict(padding=(2, 1), dilation=2),
                                dict(stride=(2, 1), padding=1, dilation=(1, 2))])
def test_unfold(kw):
    x = t64(2, 3, 7, 6)
    # a pixel lies in <= 3*2 windows
    check_linear_in_each(textbook.unfold, F.unfold, [x], n=9, kernel_size=(3, 2), **kw)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(padding=1),
                                dict(stride=2, padding=2, dilation=2),
                                dict(stride=(1, 2), padding=(0, 1), dilation=(2, 1)), dict(groups=2),
                                dict(groups=3, padding=1, stride=2)])
def test_conv2d(kw):
    groups = kw.get("groups", 1)
    x, W, b = t64(2, 6, 8, 7), t64(12, 6 // groups, 3, 3), t64(12)
    # terms: 6*9+1 per output, 12*9 per input pixel (dx), 2*8*7 per weight (dW, db)
    check_linear_in_each(textbook.conv2d, F.conv2d, [x, W, b], n=2 * 8 * 7 + 1, **kw)


def test_conv2d_rectangular_kernel_without_bias():
    x, W = t64(1, 2, 6, 9), t64(4, 2, 2, 3)
    check_linear_in_each(textbook.conv2d, F.conv2d, [x, W], n=6 * 9 + 1, stride=(2, 1), padding=(1, 0))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                dict(kernel_size=3, padding=1),
                                dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2))])
def test_max_pool2d(kw):
    # The maximum is exact, so forward and gradient equal to the last bit where no window gets more than one
    # gradient; overlapping windows add at most kh*kw gradients into one input: 2 * 6 eps sum|g|.
    x = t64(2, 3, 7, 8)
    check_linear_in_each(textbook.max_pool2d, F.max_pool2d, [x], n=6, absolute=False, **kw)


def test_max_pool2d_gradient_goes_to_the_maximum():
    x = numtorch.tensor([[[[1.0, 5.0], [3.0, 2.0]]]], requires_grad=True)
    textbook.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                dict(kernel_size=3, padding=1),
                                dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))])
def test_avg_pool2d(kw):
    x = t64(2, 3, 7, 8)
    check_linear_in_each(textbook.avg_pool2d, F.avg_pool2d, [x], n=3 * 3 + 2, **kw)   # k*k terms and a divide


def test_conv2d_too_small_input():
    with pytest.raises(RuntimeError, match="smaller than the dilated kernel"):
        textbook.conv2d(t64(1, 1, 2, 2), t64(1, 1, 3, 3))


# ---- activations: a few rounded steps on terms of size <= 1 + |x| ----------------------------------------

@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "silu", "gelu"])
def test_activations(name):
    # Each formula (and its derivative) is <= 8 rounded steps on terms of size <= (1 + |x|)^2 (x e^-x^2/2 in
    # gelu's slope), each step erring by <= eps of its size; the library errs as much: 2 * 8 eps (1 + |x|)^2.
    x = t64(200, scale=2.0)
    bound = 2 * 8 * EPS * (1 + np.abs(np_(x))) ** 2
    check_scalar_bound(getattr(textbook, name), getattr(F, name), [x], bound, [bound])


def test_gelu_tanh_approximation():
    x = t64(200, scale=2.0)
    bound = 2 * 12 * EPS * (1 + np.abs(np_(x))) ** 4     # the cubic's terms: |x|^3 (x |x|^3 in the slope)
    check_scalar_bound(lambda v: textbook.gelu(v, approximate="tanh"),
                       lambda v: F.gelu(v, approximate="tanh"), [x], bound, [bound])


def test_relu_at_zero_has_gradient_zero():
    x = numtorch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    textbook.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        textbook.gelu(t64(3), approximate="sigmoid")


# ---- softmax, log_softmax, losses -------------------------------------------------------------------------

def _softmax_steps(x, dim):
    """Rounded steps times conditioning: n terms in the sum, + e^z's relative error eps |z|, z = x - max."""
    z = np_(x) - np_(x).max(axis=dim, keepdims=True)
    return x.shape[dim] + 8 + 2 * np.abs(z).max()


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax(dim):
    x = t64(4, 6, 5, scale=3.0)
    n = _softmax_steps(x, dim)
    p = np_(F.softmax(x, dim=dim))
    # value: relative error; gradient p_i (g_i - sum_j p_j g_j): terms of size
    # p_i (|g_i| + sum_j p_j |g_j|) <= 2 p_i
    check_scalar_bound(textbook.softmax, F.softmax, [x], 2 * n * EPS * p, [2 * n * EPS * 2 * p], dim=dim)


def test_softmax_of_large_logits_is_finite():
    x = numtorch.tensor([1e4, 1e4 - 1.0, -1e4], dtype=numtorch.float64)
    p = textbook.softmax(x, dim=0)
    e = math.exp(-1.0)
    assert_within(p, [1 / (1 + e), e / (1 + e), 0.0], 2 * 8 * EPS)


@pytest.mark.parametrize("dim", [-1, 0])
def test_log_softmax(dim):
    x = t64(4, 6, scale=3.0)
    n = _softmax_steps(x, dim)
    size = 1 + np.abs(np_(x)).max() * 2 + math.log(x.shape[dim])   # |z_i| + log-sum-exp
    # gradient g_i - p_i sum_j g_j: terms of size |g_i| + p_i sum_j |g_j| <= 1 + (size of dim)
    check_scalar_bound(textbook.log_softmax, F.log_softmax, [x], 2 * n * EPS * size,
                       [2 * n * EPS * (1 + x.shape[dim])], dim=dim)


def test_cross_entropy():
    logits, target = t64(8, 5, scale=3.0), numtorch.tensor(RNG.integers(0, 5, 8))
    n = _softmax_steps(logits, 1) + 8                          # + the mean over 8 samples
    size = 1 + 2 * np.abs(np_(logits)).max() + math.log(5)     # a sample's loss: |z_t| + log-sum-exp
    # gradient (p - onehot) / N: terms of size <= 2 / 8
    check_scalar_bound(lambda z: textbook.cross_entropy(z, target), lambda z: F.cross_entropy(z, target),
                       [logits], 2 * n * EPS * size, [2 * n * EPS * 2 / 8])


def test_cross_entropy_gradient_is_prediction_minus_target():
    logits, target = t64(3, 4), numtorch.tensor([2, 0, 3])
    textbook.cross_entropy(logits, target).backward()
    expected = (np_(F.softmax(logits, dim=1)) - np.eye(4)[[2, 0, 3]]) / 3
    assert_within(logits.grad, expected, 2 * 16 * EPS)


def test_mse_loss():
    a, b = t64(5, 7), t64(5, 7)
    size = (np.abs(np_(a)) + np.abs(np_(b))) ** 2
    # mean of 35 squares of a - b (each error eps (|a| + |b|)); gradient 2 (a - b) / 35
    check_scalar_bound(textbook.mse_loss, F.mse_loss, [a, b], 2 * 40 * EPS * size.mean(),
                       2 * 4 * EPS * 2 * np.sqrt(size) / 35)


# ---- layer norm, batch norm -------------------------------------------------------------------------------

def _norm_bounds(x, dims, w, g):
    """Bounds for y = gamma x_hat + beta and dx = gamma/sigma (g - mean g - x_hat mean(g x_hat)), per element.

    n: the terms of the mean and variance, plus the conditioning of centring, (|x| + |mean|) / sigma.
    x_hat errs by eps (|x| + |mean| + mean|x|) / sigma (centring; the mean's error) plus |x_hat| times
    sigma's relative error, hence the size of y: that sum times |gamma|.
    """
    a = np_(x)
    mean, sigma = a.mean(axis=dims, keepdims=True), np.sqrt(a.var(axis=dims, keepdims=True) + 1e-5)
    kappa = ((np.abs(a) + np.abs(mean)) / sigma).max()
    n = int(np.prod([a.shape[d] for d in dims])) + 8 + 4 * kappa
    x_hat, wg = (a - mean) / sigma, np.abs(np_(w) * np_(g))
    centred = (np.abs(a) + np.abs(mean) + np.abs(a).mean(axis=dims, keepdims=True)) / sigma
    grad_size = (wg + wg.mean(axis=dims, keepdims=True)
                 + np.abs(x_hat) * (wg * np.abs(x_hat)).mean(axis=dims, keepdims=True)) / sigma
    return n, (centred + np.abs(x_hat)) * np.abs(np_(w)), grad_size


def test_layer_norm():
    x, w, b = t64(3, 4, 8, scale=2.0), t64(8), t64(8)
    out, ref = textbook.layer_norm(x, (8,), w, b), F.layer_norm(x, (8,), w, b)
    g = uniform((3, 4, 8))
    n, size, grad_size = _norm_bounds(x, (-1,), w, g)
    assert_within(out, ref, 2 * n * EPS * (size + np.abs(np_(b))), "forward")
    (gx, gw, gb), (rx, rw, rb) = grads(out, [x, w, b], g), grads(ref, [x, w, b], g)
    assert_within(gx, rx, 2 * n * EPS * grad_size * 2, "dx")
    x_hat = np_(F.layer_norm(x, (8,)))
    assert_within(gw, rw, 2 * (n + 12) * EPS * (np.abs(np_(g) * x_hat)).sum(axis=(0, 1)), "dw")
    assert_within(gb, rb, 2 * 12 * EPS * np.abs(np_(g)).sum(axis=(0, 1)), "db")


def test_layer_norm_over_two_dims_without_affine():
    x = t64(3, 4, 5, scale=2.0)
    n, size, _ = _norm_bounds(x, (1, 2), numtorch.ones(4, 5, dtype=numtorch.float64), np.ones((3, 4, 5)))
    assert_within(textbook.layer_norm(x, (4, 5)), F.layer_norm(x, (4, 5)), 2 * n * EPS * size)


def test_batch_norm_training_matches_the_library_and_its_running_statistics():
    x, w, b = t64(6, 3, 4, 5, scale=2.0), t64(3), t64(3)
    mine = [t64(3, grad=False), t64(3, grad=False).abs() + 0.5]
    theirs = [t.clone() for t in mine]
    out = textbook.batch_norm(x, *mine, w, b, training=True, momentum=0.3)
    ref = F.batch_norm(x, *theirs, w, b, training=True, momentum=0.3)
    g = uniform(x.shape)
    shape = (1, 3, 1, 1)
    n, size, grad_size = _norm_bounds(x, (0, 2, 3), w.reshape(shape), g)
    assert_within(out, ref, 2 * n * EPS * (size + np.abs(np_(b)).reshape(shape)), "forward")
    (gx, gw, gb), (rx, rw, rb) = grads(out, [x, w, b], g), grads(ref, [x, w, b], g)
    assert_within(gx, rx, 2 * n * EPS * grad_size * 2, "dx")
    assert_within(gb, rb, 2 * 130 * EPS * np.abs(np_(g)).sum(axis=(0, 2, 3)), "db")
    x_hat = np_(F.batch_norm(x, None, None, training=True))
    assert_within(gw, rw, 2 * (n + 130) * EPS * np.abs(np_(g) * x_hat).sum(axis=(0, 2, 3)), "dw")
    # running = 0.7 running + 0.3 batch statistic (the variance unbiased, times 120/119)
    a = np_(x)
    assert_within(mine[0], theirs[0], 2 * n * EPS * (np.abs(np_(theirs[0])) + np.abs(a).mean(axis=(0, 2, 3))))
    var_size = np.abs(np_(theirs[1])) + (a ** 2).mean(axis=(0, 2, 3)) * 2
    assert_within(mine[1], theirs[1], 2 * n * EPS * var_size)


def test_batch_norm_running_statistics_against_numpy():
    a = RNG.standard_normal((5, 2, 3))
    rm, rv = numtorch.zeros(2, dtype=numtorch.float64), numtorch.ones(2, dtype=numtorch.float64)
    textbook.batch_norm(numtorch.tensor(a), rm, rv, training=True, momentum=0.1)
    n = 15
    assert_within(rm, 0.1 * a.mean(axis=(0, 2)), 2 * (n + 4) * EPS * np.abs(a).mean(axis=(0, 2)))
    var_size = 1 + (a ** 2).mean(axis=(0, 2))
    assert_within(rv, 0.9 + 0.1 * a.var(axis=(0, 2), ddof=1), 2 * (n + 8) * EPS * var_size)


def test_batch_norm_eval_uses_the_running_statistics():
    x, w, b = t64(4, 3, 5), t64(3), t64(3)
    rm, rv = t64(3, grad=False), t64(3, grad=False).abs() + 0.5
    before = (rm.clone(), rv.clone())
    shape = (1, 3, 1)
    sigma = np.sqrt(np_(rv).reshape(shape) + 1e-5)
    # elementwise: (x - mean) / sigma * w + b, a few steps on terms of size (|x| + |mean|) / sigma |w| + |b|
    size = (np.abs(np_(x)) + np.abs(np_(rm)).reshape(shape)) / sigma * np.abs(np_(w)).reshape(shape)
    check_scalar_bound(lambda v, w_, b_: textbook.batch_norm(v, rm, rv, w_, b_),
                       lambda v, w_, b_: F.batch_norm(v, rm, rv, w_, b_), [x, w, b],
                       2 * 8 * EPS * (size + np.abs(np_(b)).reshape(shape)),
                       [2 * 8 * EPS * np.abs(np_(w)).reshape(shape) / sigma,         # |g| <= 1
                        2 * 30 * EPS * (size / np.abs(np_(w)).reshape(shape)).sum(axis=(0, 2)),
                        2 * 30 * EPS * 20])
    assert rm.tolist() == before[0].tolist() and rv.tolist() == before[1].tolist()


def test_batch_norm_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        textbook.batch_norm(t64(1, 3), None, None, training=True)


# ---- attention --------------------------------------------------------------------------------------------

def _attention_sizes(q, k, v, scale=None, mask_max=0.0, gmax=1.0):
    """(n, largest score, sizes of the output and of the gradients of q, k, v) with |g| <= gmax.

    The scores' terms are |q||k| scale (n = E) plus the mask; softmax adds S + 8 + 2 max|score| steps
    (_softmax_steps); sizes: output sum_s p_s |v_s| <= max|v|; dq = scale sum_s dS_ls k_s with
    |dS| <= 2 p max|dp|, |dp| <= Ev gmax max|v|; dk likewise over L queries; dv = sum_l p_ls g_l <= L gmax.
    """
    E, L, S, Ev = q.shape[-1], q.shape[-2], k.shape[-2], v.shape[-1]
    scale = 1 / math.sqrt(E) if scale is None else scale
    qa, ka, va = np.abs(np_(q)), np.abs(np_(k)), np.abs(np_(v))
    score = (qa @ np.swapaxes(ka, -1, -2)).max() * scale + mask_max
    n = E * (1 + score) + S + L + Ev + 8 + 2 * score
    dp = Ev * gmax * va.max()
    return n, score, va.max(), [2 * dp * ka.max() * scale, 2 * L * dp * qa.max() * scale, L * gmax]


def _attention_bounds(q, k, v, **kw):
    n, _, out_size, grad_sizes = _attention_sizes(q, k, v, **kw)
    return 2 * n * EPS * out_size, [2 * n * EPS * s for s in grad_sizes]


@pytest.mark.parametrize("is_causal", [False, True])
def test_scaled_dot_product_attention(is_causal):
    q, k, v = t64(2, 3, 5, 4), t64(2, 3, 5, 4), t64(2, 3, 5, 6)
    out_bound, grad_bounds = _attention_bounds(q, k, v)
    check_scalar_bound(textbook.scaled_dot_product_attention, F.scaled_dot_product_attention, [q, k, v],
                       out_bound, grad_bounds, is_causal=is_causal)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_scaled_dot_product_attention_with_a_mask(kind):
    q, k, v = t64(2, 4, 3), t64(2, 6, 3), t64(2, 6, 2)
    allowed = RNG.random((4, 6)) < 0.6
    allowed[:, 0] = True                                   # every query sees at least one key
    noise = RNG.uniform(-2, 2, (4, 6))
    mask = numtorch.tensor(allowed) if kind == "bool" else numtorch.tensor(np.where(allowed, noise, -np.inf))
    out_bound, grad_bounds = _attention_bounds(q, k, v, scale=0.7, mask_max=2.0)
    check_scalar_bound(textbook.scaled_dot_product_attention, F.scaled_dot_product_attention, [q, k, v],
                       out_bound, grad_bounds, attn_mask=mask, scale=0.7)


def test_scaled_dot_product_attention_causal_mask_hides_later_keys():
    q, k = t64(1, 3, 2, grad=False), t64(1, 3, 2, grad=False)
    v = numtorch.tensor([[[1.0], [10.0], [100.0]]], dtype=numtorch.float64)
    out = textbook.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out[0, 0, 0].item() == 1.0                      # query 0 sees key 0 alone


def _row_sum(W) -> float:
    """max_i sum_j |W_ij|: how much x W^T can exceed max|x|."""
    return float(np.abs(np_(W)).sum(axis=1).max())


@pytest.mark.parametrize("is_causal", [False, True])
def test_multi_head_attention_matches_the_module(is_causal):
    numtorch.manual_seed(0)
    E, h = 8, 2
    mha = nn.MultiheadAttention(E, h, batch_first=True, dtype=numtorch.float64)
    x = t64(2, 5, E)
    key = x if is_causal else t64(2, 4, E)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=numtorch.float64) if is_causal else None
    ref = mha(x, key, key, need_weights=False, attn_mask=mask, is_causal=is_causal)[0]
    out = textbook.multi_head_attention(x, key, key, h, mha.in_proj_weight, mha.in_proj_bias,
                                        mha.out_proj.weight, mha.out_proj.bias, is_causal=is_causal)
    # Sizes: every projection <= P = max|input| ||W_in||; attention's output <= P;
    # out_proj's <= ||W_o|| P + |b|.
    # n: attention's steps for heads of size P (_attention_sizes), plus the in-projections' E + 1 terms
    # amplified by 1 + 2 max|score| (a relative error r in q and k moves the scores by 2 r |score|), plus
    # out_proj's E + 1.  ||W|| = max row sum of |W| (_row_sum).
    P = max(np.abs(np_(x)).max(), np.abs(np_(key)).max()) * _row_sum(mha.in_proj_weight)
    heads = [numtorch.tensor(np.full((2, h, n, E // h), P)) for n in (5, key.shape[1], key.shape[1])]
    n, score, out_size, grad_sizes = _attention_sizes(*heads, gmax=_row_sum(mha.out_proj.weight.T))
    n += (E + 1) * (1 + 2 * score) + E + 1
    size = out_size * _row_sum(mha.out_proj.weight) + np.abs(np_(mha.out_proj.bias)).max()
    assert_within(out, ref, 2 * n * EPS * size)
    g = uniform(ref.shape)
    (gx,), (rx,) = grads(out, [x], g), grads(ref, [x], g)
    assert_within(gx, rx, 2 * n * EPS * sum(grad_sizes) * _row_sum(mha.in_proj_weight.T))


# ---- against PyTorch: the same formulas, another library ----------------------------------------------

def test_textbook_conv_pool_and_batch_norm_against_pytorch(torch):
    x, W = RNG.standard_normal((2, 4, 7, 7)), RNG.standard_normal((6, 2, 3, 3))
    xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    ref = torch.nn.functional.conv2d(xt, Wt, stride=2, padding=1, dilation=2, groups=2)
    xn, Wn = numtorch.tensor(x, requires_grad=True), numtorch.tensor(W, requires_grad=True)
    out = textbook.conv2d(xn, Wn, stride=2, padding=1, dilation=2, groups=2)
    size = torch.nn.functional.conv2d(xt.abs(), Wt.abs(), stride=2, padding=1, dilation=2, groups=2)
    assert_within(out, ref.detach().numpy(), 2 * 20 * EPS * size.detach().numpy())
    pooled = textbook.max_pool2d(xn, 3, stride=2, padding=1)
    pooled_ref = torch.nn.functional.max_pool2d(xt, 3, stride=2, padding=1)
    assert np.array_equal(np_(pooled), pooled_ref.detach().numpy())
    rm, rv = numtorch.zeros(4, dtype=numtorch.float64), numtorch.ones(4, dtype=numtorch.float64)
    rmt, rvt = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    textbook.batch_norm(xn, rm, rv, training=True)
    torch.nn.functional.batch_norm(xt, rmt, rvt, training=True)
    n = 2 * 7 * 7 + 8
    assert_within(rm, rmt.numpy(), 2 * n * EPS * np.abs(x).mean(axis=(0, 2, 3)))
    assert_within(rv, rvt.numpy(), 2 * n * EPS * (1 + 2 * (x ** 2).mean(axis=(0, 2, 3))))
