"""Run under ``mpiexec -n N``: every collective checked against its closed form; prints "ok rank R"."""
import numpy as np

import numtorch
import numtorch.distributed as dist


def close(t, expected):
    np.testing.assert_allclose(t.numpy(), np.asarray(expected), rtol=1e-6, atol=0)


def main():
    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    ranks = np.arange(n)
    assert dist.is_initialized() and dist.get_backend() == "mpi"

    # all_reduce: sum, avg, max, min, product over ranks of (r + 1) * [1, 2, 3]
    base = np.array([1.0, 2.0, 3.0], np.float32)
    for op, combine in [(dist.ReduceOp.SUM, np.sum), (dist.ReduceOp.AVG, np.mean), (dist.ReduceOp.MAX, np.max),
                        (dist.ReduceOp.MIN, np.min), (dist.ReduceOp.PRODUCT, np.prod)]:
        t = numtorch.tensor(base * (r + 1))
        dist.all_reduce(t, op=op)
        close(t, combine(np.stack([base * (k + 1) for k in ranks]), axis=0))
        assert t.dtype == numtorch.float32
    ti = numtorch.tensor([r, 10 * r], dtype=numtorch.int64)
    dist.all_reduce(ti)
    assert ti.tolist() == [n * (n - 1) // 2, 10 * n * (n - 1) // 2]
    tb = numtorch.tensor([r == 0, True])
    dist.all_reduce(tb, op=dist.ReduceOp.MIN)
    assert tb.tolist() == [n == 1, True]
    th = numtorch.tensor([0.5 * (r + 1)], dtype=numtorch.float16)
    dist.all_reduce(th)
    assert th.dtype == numtorch.float16 and float(th) == 0.5 * n * (n + 1) / 2

    # broadcast from the last rank
    t = numtorch.full((2, 2), float(r))
    dist.broadcast(t, src=n - 1)
    close(t, np.full((2, 2), n - 1.0))

    # reduce to rank 1 (or 0)
    dst = 1 % n
    t = numtorch.tensor([float(r + 1)])
    dist.reduce(t, dst=dst)
    if r == dst:
        close(t, [n * (n + 1) / 2])

    # all_gather (list) and all_gather_into_tensor
    mine = numtorch.tensor([float(r), float(r) ** 2])
    out = [numtorch.zeros(2) for _ in range(n)]
    dist.all_gather(out, mine)
    for k in ranks:
        close(out[k], [k, k ** 2])
    big = numtorch.zeros(2 * n)
    dist.all_gather_into_tensor(big, mine)
    close(big, np.stack([ranks, ranks ** 2], 1).reshape(-1))

    # reduce_scatter_tensor: input block k on rank r is (r + 1) * (k + 1); rank k gets sum_r ... block k
    inp = numtorch.tensor(np.repeat((r + 1.0) * (ranks + 1.0), 2).astype(np.float32))
    o = numtorch.zeros(2)
    dist.reduce_scatter_tensor(o, inp)
    close(o, np.full(2, (r + 1.0) * n * (n + 1) / 2))

    # gather to rank 0, scatter from rank 0
    g = [numtorch.zeros(1) for _ in range(n)] if r == 0 else None
    dist.gather(numtorch.tensor([10.0 * r]), g, dst=0)
    if r == 0:
        close(numtorch.cat(g), 10.0 * ranks)
    s = numtorch.zeros(3)
    src_list = [numtorch.full((3,), 7.0 * float(k)) for k in ranks] if r == 0 else None
    dist.scatter(s, src_list, src=0)
    close(s, np.full(3, 7.0 * r))

    # point to point around a ring, blocking and nonblocking
    right, left = (r + 1) % n, (r - 1) % n
    got = numtorch.zeros(4)
    w1 = dist.isend(numtorch.full((4,), float(r)), dst=right)
    w2 = dist.irecv(got, src=left)
    w1.wait(); w2.wait()
    close(got, np.full(4, float(left)))
    if n > 1:
        if r == 0:
            dist.send(numtorch.tensor([42.0]), dst=n - 1)
        elif r == n - 1:
            x = numtorch.zeros(1)
            sender = dist.recv(x)  # from any rank
            assert sender == 0 and float(x) == 42.0

    # async collectives: Work handles
    t = numtorch.ones(1000) * (r + 1)
    w = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    assert w.wait() is True and w.is_completed()
    close(t, np.full(1000, (n + 1) / 2))
    b = numtorch.full((5,), float(r))
    w = dist.broadcast(b, src=0, async_op=True)
    while not w.is_completed():
        pass
    close(b, np.zeros(5))
    out = [numtorch.zeros(1) for _ in range(n)]
    dist.all_gather(out, numtorch.tensor([float(r)]), async_op=True).wait()
    close(numtorch.cat(out), ranks.astype(np.float32))

    # objects as JSON
    objs = [None] * n
    dist.all_gather_object(objs, {"rank": r, "name": f"r{r}", "vals": [r, r * 0.5]})
    assert objs == [{"rank": k, "name": f"r{k}", "vals": [k, k * 0.5]} for k in ranks], objs
    lst = ["hello", 3, {"a": [1, 2]}] if r == 0 else [None, None, None]
    dist.broadcast_object_list(lst, src=0)
    assert lst == ["hello", 3, {"a": [1, 2]}]
    gl = [None] * n if r == 0 else None
    dist.gather_object(r * r, gl, dst=0)
    if r == 0:
        assert gl == [k * k for k in ranks]
    try:
        dist.all_gather_object([None] * n, object())
        raise AssertionError("a non-JSON object must be refused")
    except TypeError as e:
        assert "JSON" in str(e)

    # a sub-group of the even ranks: global src, group ranks
    evens = list(range(0, n, 2))
    grp = dist.new_group(evens)
    t = numtorch.tensor([float(r)])
    dist.all_reduce(t, group=grp)
    if r in evens:
        close(t, [float(sum(evens))])
        assert dist.get_rank(grp) == evens.index(r) and dist.get_world_size(grp) == len(evens)
    else:
        close(t, [float(r)])
        assert dist.get_rank(grp) == -1
    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    print(f"ok rank {r}", flush=True)


if __name__ == "__main__":
    main()
