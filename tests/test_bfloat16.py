"""bfloat16: casts (the exact bits of PyTorch's rounding), arithmetic, promotion, save/load.

PyTorch on the CPU is the oracle: it rounds float32 to bfloat16 to nearest-even and computes
bfloat16 elementwise ops in float32, rounding the result; numtorch must give the same bits.
"""
from __future__ import annotations

import numpy as np
import pytest

import numtorch as nt

FLOATS = ["float16", "bfloat16", "float32", "float64"]
NAMES = FLOATS + ["uint8", "int8", "int16", "int32", "int64", "bool"]


def _bits_nt(t) -> np.ndarray:
    return t.detach().numpy().view(np.uint16)


def _bits_torch(t, torch) -> np.ndarray:
    return t.detach().view(torch.int16).numpy().view(np.uint16)


def _special_float32() -> np.ndarray:
    """float32 bit patterns at the edges of bfloat16 rounding."""
    pats = [0x00000000, 0x80000000,                      # +-0
            0x3F808000, 0x3F818000, 0xBF808000,          # ties: to even (down), to even (up), negative
            0x3F808001, 0x3F807FFF,                      # just above / below a tie
            0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000,          # float32 max (rounds to inf), just below, tie to inf
            0x7F800000, 0xFF800000,                      # +-inf
            0x00000001, 0x00008000, 0x00018000, 0x807FFFFF,  # subnormals, ties among them
            0x00800000, 0x3EAAAAAB]                      # smallest normal, 1/3
    return np.array(pats, dtype=np.uint32).view(np.float32)


def _random_float32(n=4000, seed=0) -> np.ndarray:
    bits = np.random.default_rng(seed).integers(0, 2 ** 32, size=n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    return x[~np.isnan(x)]


# ---- casts --------------------------------------------------------------------------------------

def test_cast_float32_exact_bits(torch):
    x = np.concatenate([_special_float32(), _random_float32()])
    got = _bits_nt(nt.from_numpy(x).to(nt.bfloat16))
    ref = _bits_torch(torch.from_numpy(x).to(torch.bfloat16), torch)
    np.testing.assert_array_equal(got, ref)


def test_cast_nan_stays_nan(torch):
    # (PyTorch's NaN payload depends on its vectorized or scalar path; only NaN-ness is its contract)
    x = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF], dtype=np.uint32).view(np.float32)
    got = nt.from_numpy(x).bfloat16().float().numpy()
    assert np.isnan(got).all()
    assert torch.from_numpy(x).bfloat16().float().isnan().all()


@pytest.mark.parametrize("src", ["float64", "int64", "int32", "float16", "uint8", "bool"])
def test_cast_other_dtypes_exact_bits(src, torch):
    # float64 and int64 round twice in PyTorch (to float32, then to bfloat16): ties differ from one rounding
    rng = np.random.default_rng(1)
    if src == "float64":
        x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-30, 30, 2000),
                            [1 + 2 ** -8 + 2 ** -30, 1 + 2 ** -8 - 2 ** -30, 1e300, -1e-300, 3.3961776e38]])
    elif src == "bool":
        x = np.array([True, False])
    elif src == "uint8":
        x = np.arange(256, dtype=np.uint8)
    elif src == "float16":
        x = np.arange(2 ** 16, dtype=np.uint16).view(np.float16)
        x = x[~np.isnan(x)]
    else:
        info = np.iinfo(src)
        x = np.concatenate([rng.integers(info.min, info.max, 2000, dtype=src),
                            np.array([2 ** 24 + 2 ** 16 + 1, 257, -(2 ** 24 + 2 ** 17 + 1)], dtype=src)])
    x = np.asarray(x, dtype=src)
    got = _bits_nt(nt.from_numpy(x).to(nt.bfloat16))
    ref = _bits_torch(torch.from_numpy(x).to(torch.bfloat16), torch)
    np.testing.assert_array_equal(got, ref)


def test_tensor_constructor_and_methods(torch):
    data = [[1.0, 1 + 2 ** -8, 1 + 2 ** -8 + 2 ** -30], [-2.5, 3e38, 1e-40]]
    got = nt.tensor(data, dtype=nt.bfloat16)
    ref = torch.tensor(data, dtype=torch.bfloat16)
    assert got.dtype == nt.bfloat16 and got.dtype is nt.bfloat16
    np.testing.assert_array_equal(_bits_nt(got), _bits_torch(ref, torch))
    np.testing.assert_array_equal(_bits_nt(nt.tensor(data).bfloat16()), _bits_torch(torch.tensor(data).bfloat16(), torch))
    back = got.float()
    assert back.dtype == nt.float32
    np.testing.assert_array_equal(back.numpy(), ref.float().numpy())      # widening is exact
    assert got[0, 1].item() == ref[0, 1].item() and isinstance(got[0, 1].item(), float)
    assert got.is_floating_point() and nt.is_floating_point(got)
    assert got.type() == "numtorch.BFloat16Tensor"
    assert nt.bfloat16.is_floating_point and nt.bfloat16.itemsize == 2


def test_repr_matches_torch(torch):
    data = [[1.2345, 100.5], [3.0, -4.0]]
    got = repr(nt.tensor(data, dtype=nt.bfloat16))
    ref = repr(torch.tensor(data, dtype=torch.bfloat16))
    assert got == ref.replace("torch.", "numtorch.")
    assert repr(nt.tensor(1.5, dtype=nt.bfloat16)) == "tensor(1.5000, dtype=numtorch.bfloat16)"


def test_finfo_matches_torch(torch):
    got, ref = nt.finfo(nt.bfloat16), torch.finfo(torch.bfloat16)
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(got, field) == getattr(ref, field), field
    assert got.dtype == "bfloat16"


# ---- arithmetic ---------------------------------------------------------------------------------

def _pair(torch, shape=(64, 33), seed=2):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32) * 3
    b = rng.standard_normal(shape).astype(np.float32) + 0.5
    return ((nt.from_numpy(a).bfloat16(), nt.from_numpy(b).bfloat16()),
            (torch.from_numpy(a).bfloat16(), torch.from_numpy(b).bfloat16()))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "neg", "abs", "maximum", "scalar_mul", "scalar_add"])
def test_elementwise_exact_bits(op, torch):
    # one float32 operation then one rounding: the bits are determined, so they must agree
    (a, b), (ta, tb) = _pair(torch)
    f = {"add": lambda L, x, y: x + y, "sub": lambda L, x, y: x - y, "mul": lambda L, x, y: x * y,
         "div": lambda L, x, y: x / y, "neg": lambda L, x, y: -x, "abs": lambda L, x, y: L.abs(x),
         "maximum": lambda L, x, y: L.maximum(x, y), "scalar_mul": lambda L, x, y: x * 1.37,
         "scalar_add": lambda L, x, y: x + 3}[op]
    got, ref = f(nt, a, b), f(torch, ta, tb)
    assert got.dtype == nt.bfloat16 and ref.dtype == torch.bfloat16
    np.testing.assert_array_equal(_bits_nt(got), _bits_torch(ref, torch))


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "sqrt", "relu", "softmax", "sum", "mean"])
def test_unary_and_reductions_close(op, torch):
    # transcendental functions and float32 accumulations may differ in the last float32 bit,
    # which can move the rounded bfloat16 result by one bfloat16 ulp (2^-8 relative)
    (a, _), (ta, _) = _pair(torch)
    if op == "sqrt":
        a, ta = a.abs(), ta.abs()
    f = {"exp": lambda L, x: L.exp(x), "tanh": lambda L, x: L.tanh(x), "sigmoid": lambda L, x: L.sigmoid(x),
         "sqrt": lambda L, x: L.sqrt(x), "relu": lambda L, x: L.relu(x), "softmax": lambda L, x: L.softmax(x, -1),
         "sum": lambda L, x: x.sum(0), "mean": lambda L, x: x.mean(1)}[op]
    got, ref = f(nt, a), f(torch, ta)
    assert got.dtype == nt.bfloat16
    np.testing.assert_allclose(got.float().numpy(), ref.float().numpy(), rtol=2 ** -7, atol=2 ** -7 * 1e-3)


def test_sum_accumulates_in_float32(torch):
    # 4096 ones: a bfloat16 accumulator would stop at 256 (256 + 1 rounds back to 256)
    x = nt.ones(4096, dtype=nt.bfloat16)
    assert x.sum().item() == torch.ones(4096, dtype=torch.bfloat16).sum().item() == 4096.0


def test_matmul_and_linear(torch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 40)).astype(np.float32)
    w = rng.standard_normal((24, 40)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    xb, wb, bb = (nt.from_numpy(v).bfloat16() for v in (x, w, b))
    txb, twb, tbb = (torch.from_numpy(v).bfloat16() for v in (x, w, b))
    # reference: the exact product of the bfloat16 inputs (float64), rounded once: within 1 ulp + summation error
    exact = xb.double().numpy() @ wb.double().numpy().T
    got = (xb @ wb.T)
    assert got.dtype == nt.bfloat16
    bound = 2 ** -8 * np.abs(exact) + 40 * 2 ** -24 * (np.abs(xb.double().numpy()) @ np.abs(wb.double().numpy()).T)
    assert np.all(np.abs(got.double().numpy() - exact) <= bound)
    np.testing.assert_allclose(got.float().numpy(), (txb @ twb.T).float().numpy(), rtol=2 ** -7, atol=2 ** -7)
    y = nt.nn.functional.linear(xb, wb, bb)
    ty = torch.nn.functional.linear(txb, twb, tbb)
    assert y.dtype == nt.bfloat16
    np.testing.assert_allclose(y.float().numpy(), ty.float().numpy(), rtol=2 ** -6, atol=2 ** -6)


def test_backward_in_bfloat16(torch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    a = nt.from_numpy(x).bfloat16().requires_grad_()
    m = nt.from_numpy(w).bfloat16().requires_grad_()
    ta = torch.from_numpy(x).bfloat16().requires_grad_()
    tm = torch.from_numpy(w).bfloat16().requires_grad_()
    (nt.tanh(a @ m.T) * 2).sum().backward()
    (torch.tanh(ta @ tm.T) * 2).sum().backward()
    assert a.grad.dtype == nt.bfloat16 and m.grad.dtype == nt.bfloat16
    np.testing.assert_allclose(a.grad.float().numpy(), ta.grad.float().numpy(), rtol=2 ** -5, atol=2 ** -5)
    np.testing.assert_allclose(m.grad.float().numpy(), tm.grad.float().numpy(), rtol=2 ** -5, atol=2 ** -5)


# ---- promotion ----------------------------------------------------------------------------------

def _sample(lib, name, ndim):
    return lib.ones((2,) if ndim else (), dtype=getattr(lib, name))


@pytest.mark.parametrize("other", NAMES)
def test_promotion_with_bfloat16_matches_torch(other, torch):
    for da, db in ((1, 1), (1, 0), (0, 1), (0, 0)):
        for first in (True, False):
            pa, pb = ("bfloat16", da), (other, db)
            if not first:
                pa, pb = pb, pa
            r = (_sample(nt, pa[0], pa[1]) + _sample(nt, pb[0], pb[1])).dtype
            tr = (_sample(torch, pa[0], pa[1]) + _sample(torch, pb[0], pb[1])).dtype
            assert r.name == str(tr).split(".")[1], (pa, pb)


@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_scalar_promotion_matches_torch(scalar, torch):
    for ndim in (1, 0):
        assert (_sample(nt, "bfloat16", ndim) * scalar).dtype == nt.bfloat16
        assert (_sample(torch, "bfloat16", ndim) * scalar).dtype == torch.bfloat16
    got = nt.result_type(nt.ones(2, dtype=nt.bfloat16), nt.ones(2, dtype=nt.float16))
    assert got.name == str(torch.result_type(torch.ones(2, dtype=torch.bfloat16),
                                             torch.ones(2, dtype=torch.float16))).split(".")[1] == "float32"


# ---- modules and save / load ----------------------------------------------------------------

def test_module_to_bfloat16_and_back(torch):
    nt.manual_seed(0)
    m = nt.nn.Sequential(nt.nn.Linear(4, 3), nt.nn.ReLU(), nt.nn.Linear(3, 2))
    w32 = m[0].weight.detach().numpy().copy()
    m.to(nt.bfloat16)
    assert all(p.dtype == nt.bfloat16 for p in m.parameters())
    ref = torch.from_numpy(w32).bfloat16()
    np.testing.assert_array_equal(_bits_nt(m[0].weight), _bits_torch(ref, torch))
    out = m(nt.ones(5, 4, dtype=nt.bfloat16))
    assert out.dtype == nt.bfloat16
    m.bfloat16().float()
    assert all(p.dtype == nt.float32 for p in m.parameters())
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), ref.float().numpy())


def test_load_float32_state_dict_into_bfloat16_model(torch):
    tm = torch.nn.Linear(6, 4)
    m = nt.nn.Linear(6, 4).bfloat16()
    m.load_state_dict({k: nt.from_numpy(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert m.weight.dtype == nt.bfloat16
    np.testing.assert_array_equal(_bits_nt(m.weight), _bits_torch(tm.weight.bfloat16(), torch))


def test_safetensors_bf16_round_trip_with_torch(tmp_path, torch):
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file as torch_load_file, save_file as torch_save_file
    # numtorch writes, safetensors.torch reads: dtype BF16, same bits
    m = nt.nn.Linear(5, 3).bfloat16()
    nt.serialization.save_file(m.state_dict(), tmp_path / "nt.safetensors")
    loaded = torch_load_file(str(tmp_path / "nt.safetensors"))
    assert loaded["weight"].dtype == torch.bfloat16
    np.testing.assert_array_equal(_bits_torch(loaded["weight"], torch), _bits_nt(m.weight))
    # safetensors.torch writes, numtorch reads into a bfloat16 model
    tm = torch.nn.Linear(5, 3).bfloat16()
    torch_save_file(tm.state_dict(), str(tmp_path / "t.safetensors"))
    sd = nt.serialization.load_file(tmp_path / "t.safetensors")
    assert sd["weight"].dtype == nt.bfloat16
    m2 = nt.nn.Linear(5, 3).to(nt.bfloat16)
    m2.load_state_dict(sd)
    np.testing.assert_array_equal(_bits_nt(m2.weight), _bits_torch(tm.weight, torch))
    np.testing.assert_array_equal(_bits_nt(m2.bias), _bits_torch(tm.bias, torch))


def test_save_load_structure_keeps_bfloat16(tmp_path):
    pytest.importorskip("safetensors")
    x = nt.tensor([1.0, -2.5, 3e38], dtype=nt.bfloat16)
    nt.save({"x": x, "dtype": nt.bfloat16}, tmp_path / "obj.pt")
    back = nt.load(tmp_path / "obj.pt")
    assert back["x"].dtype == nt.bfloat16 and back["dtype"] is nt.bfloat16
    np.testing.assert_array_equal(_bits_nt(back["x"]), _bits_nt(x))


# ---- a survey of ops: forward dtype and value, and bfloat16 gradients, vs PyTorch -------------

_SURVEY = {
    "gelu": lambda L, F, x, y: F.gelu(x), "silu": lambda L, F, x, y: F.silu(x),
    "elu": lambda L, F, x, y: F.elu(x), "log_softmax": lambda L, F, x, y: F.log_softmax(x, -1),
    "logsumexp": lambda L, F, x, y: L.logsumexp(x, 1), "var": lambda L, F, x, y: x.var(1),
    "norm": lambda L, F, x, y: x.norm(), "cumsum": lambda L, F, x, y: x.cumsum(1),
    "cat": lambda L, F, x, y: L.cat([x, y]), "where": lambda L, F, x, y: L.where(x > 0, x, y),
    "masked_fill": lambda L, F, x, y: x.masked_fill(x > 0, 0.5), "prod": lambda L, F, x, y: x.prod(1),
    "gather": lambda L, F, x, y: x.gather(1, L.tensor([[0], [1], [2], [3]])),
    "embedding": lambda L, F, x, y: F.embedding(L.tensor([0, 3, 1]), x),
    "layer_norm": lambda L, F, x, y: F.layer_norm(x, (6,)), "mse": lambda L, F, x, y: F.mse_loss(x, y),
    "cross_entropy": lambda L, F, x, y: F.cross_entropy(x, L.tensor([0, 1, 2, 3])),
    "sdpa": lambda L, F, x, y: F.scaled_dot_product_attention(x[None], y[None], x[None]),
    "einsum": lambda L, F, x, y: L.einsum("ij,kj->ik", x, y), "normalize": lambda L, F, x, y: F.normalize(x),
    "cosine": lambda L, F, x, y: F.cosine_similarity(x, y), "rdiv": lambda L, F, x, y: 2.7 / (x.abs() + 1),
    "sort": lambda L, F, x, y: x.sort(1)[0], "mul_scalar_": lambda L, F, x, y: x.clone().mul_(1.37),
}


@pytest.mark.parametrize("name", sorted(_SURVEY))
def test_op_survey_matches_torch(name, torch):
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((4, 6)).astype(np.float32) for _ in range(2))
    nx = [nt.from_numpy(v.copy()).bfloat16().requires_grad_() for v in (a, b)]
    tx = [torch.from_numpy(v.copy()).bfloat16().requires_grad_() for v in (a, b)]
    got, ref = _SURVEY[name](nt, nt.nn.functional, *nx), _SURVEY[name](torch, torch.nn.functional, *tx)
    assert got.dtype == nt.bfloat16 and ref.dtype == torch.bfloat16
    np.testing.assert_allclose(got.detach().float().numpy(), ref.detach().float().numpy(), rtol=2 ** -6, atol=2 ** -6)
    got.float().sum().backward()
    ref.float().sum().backward()
    for p, q in zip(nx, tx):
        if q.grad is None:
            continue
        assert p.grad.dtype == nt.bfloat16      # a gradient takes its leaf's dtype, as in PyTorch
        np.testing.assert_allclose(p.grad.float().numpy(), q.grad.float().numpy(), rtol=2 ** -5, atol=2 ** -5)


@pytest.mark.parametrize("opt", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizers_on_bfloat16_params(opt, torch):
    a = np.random.default_rng(6).standard_normal((4, 6)).astype(np.float32)
    p = nt.nn.Parameter(nt.from_numpy(a.copy()).bfloat16())
    tp = torch.nn.Parameter(torch.from_numpy(a.copy()).bfloat16())
    o, to = getattr(nt.optim, opt)([p], lr=0.01), getattr(torch.optim, opt)([tp], lr=0.01)
    for _ in range(3):
        o.zero_grad()
        to.zero_grad()
        (p * p).sum().backward()
        (tp * tp).sum().backward()
        o.step()
        to.step()
    assert p.dtype == nt.bfloat16
    np.testing.assert_allclose(p.detach().float().numpy(), tp.detach().float().numpy(), rtol=2 ** -6, atol=2 ** -6)


def test_batchnorm_module_in_bfloat16(torch):
    x = np.random.default_rng(8).standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 1
    bn, tbn = nt.nn.BatchNorm2d(3).bfloat16(), torch.nn.BatchNorm2d(3).bfloat16()
    y, ty = bn(nt.from_numpy(x).bfloat16()), tbn(torch.from_numpy(x).bfloat16())
    assert y.dtype == nt.bfloat16 and bn.running_mean.dtype == nt.bfloat16
    assert bn.running_mean.grad_fn is None and not bn.running_mean.requires_grad
    np.testing.assert_allclose(y.detach().float().numpy(), ty.detach().float().numpy(), rtol=2 ** -6, atol=2 ** -6)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(bn, name).float().numpy(), getattr(tbn, name).float().numpy(),
                                   rtol=2 ** -7, atol=2 ** -8)


def test_legacy_constructor(torch):
    got, ref = nt.BFloat16Tensor([1.5, 1 + 2 ** -8]), torch.BFloat16Tensor([1.5, 1 + 2 ** -8])
    assert got.dtype == nt.bfloat16 and isinstance(got, nt.BFloat16Tensor)
    assert not isinstance(nt.ones(2), nt.BFloat16Tensor)
    np.testing.assert_array_equal(_bits_nt(got), _bits_torch(ref, torch))


def test_widening_every_bit_pattern_matches_torch(torch):
    # bfloat16 -> float32 is exact (the upper half of a float32): all 65536 patterns, NaN payloads too
    bits = np.arange(2 ** 16, dtype=np.uint16)
    got = nt.from_numpy(bits.view(nt.bfloat16.np)).float().numpy().view(np.uint32)
    ref = torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).float().numpy().view(np.uint32)
    np.testing.assert_array_equal(got, ref)
    strided = nt.from_numpy(bits.view(nt.bfloat16.np).reshape(256, 256)).T[::3]
    np.testing.assert_array_equal(strided.float().numpy().view(np.uint32),
                                  (bits.reshape(256, 256).T[::3].astype(np.uint32) << 16))


def test_broadcast_gradients_sum_in_float32(torch):
    # a gradient summed over 4096 rows: a bfloat16 accumulator would stop at 256 (256 + 1 rounds to 256)
    x = nt.ones(4096, 3, dtype=nt.bfloat16)
    c = nt.zeros(3, dtype=nt.bfloat16).requires_grad_()
    W = nt.ones(2, 3, dtype=nt.bfloat16).requires_grad_()
    b = nt.zeros(2, dtype=nt.bfloat16).requires_grad_()
    (x + c).float().sum().backward()
    nt.nn.functional.linear(x, W, b).float().sum().backward()
    tc = torch.zeros(3, dtype=torch.bfloat16, requires_grad=True)
    tb = torch.zeros(2, dtype=torch.bfloat16, requires_grad=True)
    tW = torch.ones(2, 3, dtype=torch.bfloat16, requires_grad=True)
    (torch.ones(4096, 3, dtype=torch.bfloat16) + tc).float().sum().backward()
    torch.nn.functional.linear(torch.ones(4096, 3, dtype=torch.bfloat16), tW, tb).float().sum().backward()
    for g, r in ((c.grad, tc.grad), (b.grad, tb.grad), (W.grad, tW.grad)):
        assert g.dtype == nt.bfloat16
        np.testing.assert_array_equal(g.float().numpy(), r.float().numpy())
        assert (g.float().numpy() == 4096).all()


def test_linear_with_bias_rounds_once(torch):
    # PyTorch's CPU adds the bias in float32 before the one rounding to bfloat16
    rng = np.random.default_rng(9)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((64, 40), (24, 40), (24,)))
    xb, wb, bb = (nt.from_numpy(v).bfloat16() for v in (x, w, b))
    got = nt.nn.functional.linear(xb, wb, bb)
    once = (xb.double().numpy() @ wb.double().numpy().T + bb.double().numpy())
    # within half a bfloat16 ulp of the exact value, plus float32 summation error
    ulp = 2.0 ** (np.floor(np.log2(np.abs(once))) - 7)
    err = np.abs(got.double().numpy() - once)
    assert np.all(err <= 0.5 * ulp + 64 * 2 ** -24 * (np.abs(xb.double().numpy()) @ np.abs(wb.double().numpy()).T
                                                     + np.abs(bb.double().numpy())))
    ref = torch.nn.functional.linear(*(torch.from_numpy(v).bfloat16() for v in (x, w, b)))
    assert np.mean(_bits_nt(got) == _bits_torch(ref, torch)) > 0.99   # (summation order may differ in a tie)
