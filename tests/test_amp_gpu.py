"""Mixed precision on the "cuda" device: autocast's float16 policy and an enabled GradScaler.

Runs on a real GPU ([cupy]) and on the NumPy-backed CuPy stand-in ([emulated]) everywhere.
"""
import numpy as np
import pytest

import numtorch as nt
from gpu_backends import backend  # noqa: F401  (autouse: every test runs on [cupy] and [emulated])


def _cuda(a):
    return nt.from_numpy(np.asarray(a, dtype=np.float32)).to("cuda")


def test_cuda_autocast_policy(torch):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    with nt.autocast("cuda"):
        assert nt.is_autocast_enabled() and nt.get_autocast_dtype("cuda") is nt.float16
        y = nt.nn.functional.linear(_cuda(x), _cuda(w))
        assert y.dtype == nt.float16 and y.device.type == "cuda"
        assert (_cuda(x) @ _cuda(w).T).dtype == nt.float16
        assert nt.softmax(y, -1).dtype == nt.float32                   # CUDA runs softmax in float32
        loss = nt.nn.functional.cross_entropy(y, nt.tensor([0, 1, 2, 0]).to("cuda"))
        assert loss.dtype == nt.float32
        assert (_cuda(x) + _cuda(x)).dtype == nt.float32               # not on the lists
        cpu = nt.from_numpy(x.astype(np.float32)) @ nt.from_numpy(w.astype(np.float32)).T
        assert cpu.dtype == nt.float32                                 # CPU tensors are not cast
    ref = (x.astype(np.float16).astype(np.float64) @ w.astype(np.float16).astype(np.float64).T)
    np.testing.assert_allclose(y.float().cpu().numpy(), ref, rtol=2 ** -9, atol=2 ** -9 * np.abs(ref).max())
    assert not nt.is_autocast_enabled("cuda")


def test_cuda_autocast_rejects_bfloat16():
    with pytest.raises(RuntimeError, match="CuPy has no bfloat16"):
        nt.autocast("cuda", dtype=nt.bfloat16)


def test_bfloat16_tensor_to_cuda_is_a_clear_error():
    with pytest.raises(TypeError, match="bfloat16 tensors live on the CPU"):
        nt.ones(2, dtype=nt.bfloat16).to("cuda")


def _scripted(lib, device, pattern):
    w = lib.tensor([1.0, -2.0, 0.5], device=device, requires_grad=True)
    opt = lib.optim.SGD([w], lr=0.1)
    scaler = lib.amp.GradScaler(device, init_scale=2.0 ** 6, growth_interval=2)
    scales = []
    for bad in pattern:
        opt.zero_grad()
        scaler.scale((w * w).sum()).backward()
        if bad:
            with lib.no_grad():
                w.grad[0] = float("inf")
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, w.detach().cpu().numpy()


def test_enabled_cuda_grad_scaler_matches_torch(torch):
    pattern = [False, False, True, False, False, False, True, True, False]
    s = nt.amp.GradScaler("cuda")
    assert s.is_enabled()
    scales, w = _scripted(nt, "cuda", pattern)
    tscales, tw = _scripted(torch, "cpu", pattern)      # the same algorithm on PyTorch's CPU
    assert scales == tscales
    np.testing.assert_allclose(w, tw, rtol=1e-6)
