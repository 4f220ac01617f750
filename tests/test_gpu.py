"""GPU tests: every op family and model on "cuda" gives the CPU's results (float32 tolerances).

Each test runs twice:

* ``[cupy]`` on a real GPU through CuPy.  These carry the ``gpu`` marker and skip cleanly where
  CuPy finds no GPU (availability is ``cupy.cuda.is_available()``, not the import).  Run them on a
  GPU machine with ``python -m pytest -m gpu tests/test_gpu.py`` (or ``bash bench/gpu_check.sh``).
* ``[emulated]`` everywhere, with ``tests/fake_cupy.py`` playing CuPy: NumPy arithmetic under
  CuPy's rules (no implicit device -> host conversion, no mixing with NumPy arrays, every host
  sync counted).  This checks numtorch's device plumbing on any machine; it cannot check CUDA
  kernels or speed.
"""
import numpy as np
import pytest

import numtorch
import numtorch.models
import numtorch.nn.functional as F

from gpu_backends import backend  # noqa: F401  (autouse: every test runs on [cupy] and [emulated])


RTOL, ATOL = 1e-4, 1e-5


def _pair(*shape, requires_grad=True, seed=0):
    g = numtorch.Generator().manual_seed(seed)
    cpu = numtorch.randn(*shape, generator=g, requires_grad=requires_grad)
    gpu = cpu.detach().to("cuda").requires_grad_(requires_grad)
    return cpu, gpu


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a.detach().cpu()), np.asarray(b.detach().cpu()), rtol=rtol, atol=atol)


def _check(fn, *shapes):
    pairs = [_pair(*s, seed=i) for i, s in enumerate(shapes)]
    ycpu = fn(*[p[0] for p in pairs])
    ygpu = fn(*[p[1] for p in pairs])
    assert ygpu.device.type == "cuda"
    _close(ycpu, ygpu)
    ycpu.sum().backward()
    ygpu.sum().backward()
    for c, g in pairs:
        _close(c.grad, g.grad)


def test_moves_and_devices():
    x = numtorch.arange(6.0).reshape(2, 3)
    y = x.to("cuda:0")
    assert y.device == numtorch.device("cuda", 0) and y.is_cuda
    assert x.cuda().device.type == "cuda"
    np.testing.assert_array_equal(np.asarray(y.cpu()), np.asarray(x))
    z = numtorch.zeros(2, 3, device="cuda")
    assert z.device.type == "cuda"
    with pytest.raises(RuntimeError, match="cpu.*cuda|cuda.*cpu"):
        x + y
    with pytest.raises(TypeError, match="cpu"):
        y.numpy()
    with pytest.raises(TypeError, match=r"cuda:0 device type tensor.*Tensor\.cpu\(\)"):
        np.asarray(y)  # as PyTorch: no silent copy to the host


@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: a + b * 2 - a / (b.abs() + 1), [(4, 5), (5,)]),
    (lambda a: a.exp().log1p().tanh().sigmoid().relu().sqrt(), [(3, 4)]),
    (lambda a: a.sum(1) + a.mean(0).sum() + a.amax(1), [(4, 6)]),
    (lambda a, b: a @ b, [(3, 4, 5), (5, 2)]),
    (lambda a: a[1:, [0, 2]].reshape(-1), [(4, 3)]),
    (lambda a: a.softmax(-1) if hasattr(a, "softmax") else F.softmax(a, -1), [(3, 7)]),
    (lambda a: a.logsumexp(1), [(3, 7)]),
    (lambda a: a.var(0) + a.std(1).sum(), [(5, 4)]),
])
def test_ops_match_cpu(fn, shapes):
    _check(fn, *shapes)


def test_conv_pool_batchnorm_match_cpu():
    _check(lambda x, w: F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2), (2, 3, 8, 8), (4, 3, 3, 3))
    _check(lambda x: F.batch_norm(x, None, None, training=True), (4, 3, 5, 5))


def test_cross_entropy_and_attention_match_cpu():
    target = numtorch.tensor([1, 0, 3])
    _check(lambda x: F.cross_entropy(x, target.to(x.device)), (3, 5))
    _check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (2, 4, 6, 8), (2, 4, 6, 8),
           (2, 4, 6, 8))


def test_same_seed_same_weights_and_dropout_masks():
    numtorch.manual_seed(3)
    a = numtorch.nn.Linear(5, 4)
    numtorch.manual_seed(3)
    b = numtorch.nn.Linear(5, 4).to("cuda")
    _close(a.weight, b.weight, 0, 0)
    numtorch.manual_seed(4)
    m1 = F.dropout(numtorch.ones(100), 0.5)
    numtorch.manual_seed(4)
    m2 = F.dropout(numtorch.ones(100, device="cuda"), 0.5)
    _close(m1, m2, 0, 0)


@pytest.mark.parametrize("drop", [lambda x: F.dropout(x, 0.3), lambda x: F.dropout2d(x, 0.5),
                                  lambda x: F.alpha_dropout(x, 0.2, training=True)])
def test_dropout_masks_reach_the_device_without_waiting(backend, drop):
    """Same seed, same mask on both devices; on a GPU the draws arrive by a copy the host need not wait for."""
    x = numtorch.randn(4, 3, 5, 5)
    numtorch.manual_seed(7)
    y_cpu = drop(x)
    numtorch.manual_seed(7)
    if backend is not None:
        backend.stats.reset()
    y_gpu = drop(x.to("cuda"))
    if backend is not None:
        assert (backend.stats.syncs, backend.stats.uploads, backend.stats.async_uploads) == (0, 1, 1)
    _close(y_cpu, y_gpu, 0, 0)


def _train_steps(model, x, t, device, steps=3):
    model = model.to(device)
    x, t = x.to(device), t.to(device)
    opt = numtorch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for p in model.parameters():
        assert p.device == x.device and p.grad.device == x.device
    return losses


@pytest.mark.parametrize("name,shape", [("TwoLayerNet", (8, 784)), ("SimpleConvNet", (4, 1, 28, 28)),
                                        ("resnet20", (2, 3, 32, 32))])
def test_models_train_the_same_on_both_devices(name, shape):
    ctor = getattr(numtorch.models, name, None)
    if ctor is None:
        pytest.skip(f"numtorch.models.{name} not available")
    numtorch.manual_seed(0)
    cpu_model = ctor()
    gpu_model = ctor()
    gpu_model.load_state_dict(cpu_model.state_dict())
    x = numtorch.rand(*shape)
    t = numtorch.randint(0, 10, (shape[0],))
    np.testing.assert_allclose(_train_steps(cpu_model, x, t, "cpu"), _train_steps(gpu_model, x, t, "cuda"),
                               rtol=1e-3, atol=1e-4)


def test_checkpoint_saved_on_gpu_loads_on_cpu(tmp_path):
    m = numtorch.nn.Linear(3, 2).to("cuda")
    numtorch.save(m.state_dict(), tmp_path / "m.safetensors")
    sd = numtorch.load(tmp_path / "m.safetensors", map_location="cpu")
    assert sd["weight"].device.type == "cpu"
    _close(sd["weight"], m.weight, 0, 0)


def test_memory_functions():
    numtorch.cuda.empty_cache()
    before = numtorch.cuda.memory_allocated()
    x = numtorch.zeros(1024, 1024, device="cuda")
    assert numtorch.cuda.memory_allocated() >= before + x.numel() * 4
    assert numtorch.cuda.max_memory_allocated() >= numtorch.cuda.memory_allocated()
    numtorch.cuda.synchronize()
    assert numtorch.cuda.device_count() >= 1


# ---- the fused kernels (numtorch._kernels) against the CPU path -----------------------------

def test_activation_backward_kernels_match_cpu():
    _check(lambda x: (x * 3).relu() * x, (5, 7))
    _check(lambda x: (x * 3).sigmoid() * x, (5, 7))
    _check(lambda x: (x * 3).tanh() * x, (5, 7))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernels_match_cpu(approximate):
    _check(lambda x: F.gelu(x * 3, approximate=approximate), (4, 33))


@pytest.mark.parametrize("affine", [True, False])
def test_norm_kernels_match_cpu(affine):
    w = numtorch.linspace(0.5, 2.0, 6)
    b = numtorch.linspace(-1.0, 1.0, 6)

    def params(x):
        return (w.to(x.device), b.to(x.device)) if affine else (None, None)
    _check(lambda x: F.batch_norm(x * 2 + 1, None, None, *params(x), training=True), (4, 6, 3, 5))
    _check(lambda x: F.batch_norm(x, None, None, *params(x), training=True), (5, 6))
    _check(lambda x: F.layer_norm(x * 3 - 1, (6,), *params(x)), (2, 4, 6))
    _check(lambda x: F.layer_norm(x, (6,), params(x)[0], None), (3, 6))


@pytest.mark.parametrize("norm", [lambda x, w: F.layer_norm(x, (6,), w),
                                  lambda x, w: F.layer_norm(x, (6,), None, w),
                                  lambda x, w: F.batch_norm(x, None, None, w, None, training=True),
                                  lambda x, w: F.batch_norm(x, None, None, None, w, training=True)])
def test_norms_refuse_mixed_dtypes_on_both_devices(norm):
    """As PyTorch: float64 weights with a float32 input are an error (a kernel's T is one dtype)."""
    x = numtorch.randn(3, 6)
    w64 = numtorch.linspace(0.5, 2.0, 6, dtype=numtorch.float64)
    for dev in ("cpu", "cuda"):
        with pytest.raises(RuntimeError, match="mixed dtype"):
            norm(x.to(dev), w64.to(dev))


@pytest.mark.parametrize("make", [
    lambda ps: numtorch.optim.SGD(ps, lr=0.1),
    lambda ps: numtorch.optim.SGD(ps, lr=0.1, weight_decay=0.01),
    lambda ps: numtorch.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: numtorch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
    lambda ps: numtorch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: numtorch.optim.Adam(ps, lr=0.01),
    lambda ps: numtorch.optim.Adam(ps, lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)),
    lambda ps: numtorch.optim.AdamW(ps, lr=0.01),
    lambda ps: numtorch.optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: numtorch.optim.Adam(ps, lr=0.01, maximize=True),
    lambda ps: numtorch.optim.Adagrad(ps, lr=0.1),
    lambda ps: numtorch.optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5),
    lambda ps: numtorch.optim.RMSprop(ps, lr=0.01),
    lambda ps: numtorch.optim.RMSprop(ps, lr=0.01, momentum=0.9, weight_decay=0.01, alpha=0.9),
    lambda ps: numtorch.optim.RMSprop(ps, lr=0.01, centered=True),
])
def test_optimizer_updates_match_cpu(make):
    params = {}
    for dev in ("cpu", "cuda"):
        g = numtorch.Generator().manual_seed(0)
        w = numtorch.randn(7, 5, generator=g).to(dev).requires_grad_()
        opt = make([w])
        for step in range(4):
            opt.zero_grad()
            ((w * w).sum() + (w * (step + 1)).sin().sum()).backward()
            opt.step()
        params[dev] = w
    _close(params["cpu"], params["cuda"], rtol=1e-5, atol=1e-6)


# ---- no host synchronisation inside a training step ----------------------------------------

def _gpt_step_parts():
    model = numtorch.models.GPT(vocab_size=65, n_layer=2, n_head=2, n_embd=32, block_size=16, dropout=0.1)
    x = numtorch.randint(0, 65, (2, 16))
    y = numtorch.randint(0, 65, (2, 16))
    return model, x, y, lambda ps: numtorch.optim.AdamW(ps, lr=1e-3)


@pytest.mark.parametrize("name", ["TwoLayerNet", "SimpleConvNet", "resnet20", "GPT"])
def test_training_step_never_waits_for_the_device(backend, name):
    """A step (forward, loss, backward, clip_grad_norm_, optimizer) copies nothing to or from the host."""
    if backend is None:
        pytest.skip("host transfers are counted by the emulator only")
    numtorch.manual_seed(0)
    if name == "GPT":
        model, x, t, make_opt = _gpt_step_parts()
    else:
        model = getattr(numtorch.models, name)()
        shape = {"TwoLayerNet": (8, 784), "SimpleConvNet": (4, 1, 28, 28), "resnet20": (2, 3, 32, 32)}[name]
        x, t = numtorch.rand(*shape), numtorch.randint(0, 10, (shape[0],))
        make_opt = lambda ps: numtorch.optim.SGD(ps, lr=0.05, momentum=0.9)  # noqa: E731
    model, x, t = model.to("cuda"), x.to("cuda"), t.to("cuda")
    opt = make_opt(model.parameters())

    def step():
        opt.zero_grad()
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1))
        loss.backward()
        numtorch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    step()  # the first step creates optimizer state
    backend.stats.reset()
    loss = step()
    assert (backend.stats.syncs, backend.stats.uploads) == (0, 0)
    if name == "GPT":  # its dropout masks' random draws arrive by copies that do not wait
        assert backend.stats.async_uploads > 0
    assert np.isfinite(loss.item())


@pytest.mark.parametrize("kwargs", [dict(), dict(ignore_index=2), dict(weight=[1.0, 2.0, 0.5, 1.0, 3.0]),
                                    dict(label_smoothing=0.1, ignore_index=0), dict(reduction="sum"),
                                    dict(reduction="none", weight=[1.0, 2.0, 0.5, 1.0, 3.0], ignore_index=4)])
def test_cross_entropy_options_match_cpu(kwargs):
    target = numtorch.tensor([1, 0, 3, 2, 4, 2])

    def loss(x):
        kw = dict(kwargs)
        if "weight" in kw:
            kw["weight"] = numtorch.tensor(kw["weight"], device=x.device)
        return F.cross_entropy(x, target.to(x.device), **kw)
    _check(loss, (6, 5))
    _check(lambda x: F.nll_loss(F.log_softmax(x, 1), target.to(x.device), **{k: v for k, v in kwargs.items()
                                                                             if k == "ignore_index"}), (6, 5))


def test_cross_entropy_out_of_range_target_gives_nan_on_the_device():
    """The CPU raises IndexError; a GPU cannot without waiting for the device, so the loss is NaN."""
    x = numtorch.randn(3, 4)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, numtorch.tensor([0, 4, 1]))
    loss = F.cross_entropy(x.to("cuda"), numtorch.tensor([0, 4, 1], device="cuda"))
    assert np.isnan(loss.item())
    ignored = F.cross_entropy(x.to("cuda"), numtorch.tensor([0, -100, 1], device="cuda"))
    _close(ignored, F.cross_entropy(x, numtorch.tensor([0, -100, 1])))


# ---- the GPU benchmark's numtorch side runs (a real GPU is needed for its timings) -------------

def _load_bench_gpu():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("workload", ["W1_mlp", "W2_simplecnn", "W4_resnet20", "W5_gpt"])
def test_gpu_benchmark_workloads_run(workload):
    bench = _load_bench_gpu()
    step, sync = bench.numtorch_step(workload)
    for _ in range(2):
        step()
    sync()


def test_pinned_tensors_go_to_the_device_asynchronously(backend):
    x = numtorch.randn(4, 5)
    p = x.pin_memory()
    assert p.is_pinned() and not x.is_pinned() and p.device.type == "cpu"
    _close(p, x, 0, 0)
    assert p.pin_memory() is p
    with pytest.raises(RuntimeError, match="only CPU tensors"):
        p.cuda().pin_memory()
    if backend is not None:
        backend.stats.reset()
    y = p.to("cuda", non_blocking=True)
    z = p.cuda(non_blocking=True)
    numtorch.cuda.synchronize()
    _close(y, x, 0, 0)
    _close(z, x, 0, 0)
    if backend is not None:  # the emulator sees how the copies were made
        assert backend.stats.async_uploads == 2
        x.to("cuda", non_blocking=True)  # pageable memory: an ordinary copy
        assert backend.stats.async_uploads == 2


def test_arange_is_made_on_the_device(backend):
    if backend is not None:
        backend.stats.reset()
    for args in [(5,), (1, 4), (0.5, 3.0, 0.25), (10, 0, -3)]:
        d = numtorch.arange(*args, device="cuda")
        _close(d, numtorch.arange(*args), 0, 0)
        assert d.dtype == numtorch.arange(*args).dtype and d.device.type == "cuda"
    if backend is not None:
        assert backend.stats.uploads == 0


def test_a_0d_cpu_tensor_joins_a_gpu_op_as_pytorch_allows():
    x_cpu = numtorch.randn(4)
    for op in (lambda a, s: a * s, lambda a, s: s - a, lambda a, s: numtorch.maximum(a, s),
               lambda a, s: numtorch.where(a > 0, a, s)):
        s = numtorch.tensor(0.25, requires_grad=True)
        x = x_cpu.to("cuda").requires_grad_()
        y = op(x, s)
        assert y.device.type == "cuda"
        y.sum().backward()
        s_ref = numtorch.tensor(0.25, requires_grad=True)
        x_ref = x_cpu.clone().requires_grad_()
        op(x_ref, s_ref).sum().backward()
        _close(y, op(x_ref, s_ref))
        assert s.grad.device.type == "cpu" and x.grad.device.type == "cuda"
        _close(s.grad, s_ref.grad)
        _close(x.grad, x_ref.grad)
    with pytest.raises(RuntimeError, match="same device"):
        x_cpu.to("cuda") + numtorch.ones(4)  # only 0-d CPU tensors join


# ---- a second GPU --------------------------------------------------------------------------------

def _second_gpu(backend):
    if numtorch.cuda.device_count() < 2:
        pytest.skip("one GPU: nothing to move between")


def test_moves_between_two_gpus(backend):
    _second_gpu(backend)
    x = numtorch.randn(3, 4, requires_grad=True)
    a = x.to("cuda:0")
    b = a.to("cuda:1")
    assert b.device == numtorch.device("cuda", 1) and a.device == numtorch.device("cuda", 0)
    (b * 2).sum().backward()  # the gradient goes back through both moves
    _close(x.grad, numtorch.full((3, 4), 2.0), 0, 0)
    _close(b, x, 0, 0)
    with pytest.raises(RuntimeError, match="cuda:0.*cuda:1|cuda:1.*cuda:0"):
        a + b


def test_a_model_trains_on_the_second_gpu(backend):
    """Ops, backward and the optimizer run on the tensors' own GPU, whichever is current."""
    _second_gpu(backend)
    numtorch.manual_seed(0)
    cpu_model = numtorch.models.SimpleConvNet()
    gpu_model = numtorch.models.SimpleConvNet()
    gpu_model.load_state_dict(cpu_model.state_dict())
    x, t = numtorch.rand(4, 1, 28, 28), numtorch.randint(0, 10, (4,))
    np.testing.assert_allclose(_train_steps(cpu_model, x, t, "cpu"), _train_steps(gpu_model, x, t, "cuda:1"),
                               rtol=1e-3, atol=1e-4)
    assert all(p.device == numtorch.device("cuda", 1) for p in gpu_model.parameters())
    assert numtorch.cuda.current_device() == 0


def test_cuda_module_devices_streams_and_events():
    cuda = numtorch.cuda
    assert cuda.is_available() and cuda.is_initialized() and cuda.device_count() >= 1
    props = cuda.get_device_properties(0)
    assert props.name == cuda.get_device_name(0) and props.total_memory > 0
    assert cuda.get_device_capability(0) == (props.major, props.minor) and props.major >= 3
    free, total = cuda.mem_get_info()
    assert 0 < free <= total
    start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
    x = numtorch.randn(256, 256, device="cuda")
    start.record()
    y = x @ x
    end.record()
    end.synchronize()
    assert end.query() and start.elapsed_time(end) >= 0.0
    s = cuda.Stream()
    with cuda.stream(s):
        z = y + 1
    s.synchronize()
    assert s.query()
    cuda.current_stream().wait_stream(s)
    _close(z, (x.cpu() @ x.cpu()) + 1, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("replacement,k", [(True, 1), (False, 1), (True, 5)])
def test_multinomial_on_the_device_matches_the_cpu_without_waiting(backend, replacement, k):
    g = numtorch.Generator().manual_seed(0)
    probs = numtorch.rand(6, 9, generator=g) ** 3
    cpu = numtorch.multinomial(probs, k, replacement, generator=numtorch.Generator().manual_seed(5))
    if backend is not None:
        backend.stats.reset()
    gpu = numtorch.multinomial(probs.to("cuda"), k, replacement, generator=numtorch.Generator().manual_seed(5))
    if backend is not None:
        assert (backend.stats.syncs, backend.stats.uploads) == (0, 1)  # only probs.to("cuda") waits
    assert gpu.device.type == "cuda" and gpu.dtype == numtorch.int64
    np.testing.assert_array_equal(np.asarray(cpu), np.asarray(gpu.cpu()))


@pytest.mark.parametrize("include_pad,uploads", [(True, 0), (False, 1)])
def test_avg_pool_divisors_on_the_device(backend, include_pad, uploads):
    """One divisor for every window is a number; a per-window table goes to the device once."""
    _check(lambda x: F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=include_pad), (2, 3, 5, 6))
    x = numtorch.randn(2, 3, 5, 6).to("cuda").requires_grad_()
    if backend is not None:
        backend.stats.reset()
    F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=include_pad).sum().backward()
    if backend is not None:
        assert (backend.stats.syncs, backend.stats.uploads) == (0, uploads)
