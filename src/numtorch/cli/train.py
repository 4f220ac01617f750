"""``numtorch train``: train a network and save a checkpoint and a plot of its learning curves.

With no arguments it trains the notes' two-layer net (64-100-10, ReLU) on the 8x8 digits with
mini-batch SGD -- the four steps of the notes, repeated:

1. mini-batch: take a random batch of training samples;
2. gradient: forward, loss, ``loss.backward()``;
3. update: ``optimizer.step()`` moves each weight a small step against its gradient;
4. repeat, measuring train and held-out accuracy after each epoch.

Data-parallel on several processes: ``mpiexec -n 4 numtorch train ...`` runs the same command on
4 ranks.  Every rank starts from the same weights, takes its share of each epoch's shuffled
batches (``--batch-size`` is the global batch: each rank takes a quarter), and backward averages
the gradients over the ranks (DistributedDataParallel), so every rank takes the same step.  Rank 0
alone prints and writes the checkpoint.  A plain ``numtorch train`` is one process, as before.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import numtorch
from numtorch.cli import common
from numtorch.cli.common import CLIError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a model (default: the two-layer net on the 8x8 digits)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mlp", choices=common.MODELS,
                   help="mlp (the two-layer net, default), simplecnn, lenet5, resnet20, densenet_bc_100, "
                        "gpt (text), detector")
    p.add_argument("--data", default="digits", choices=tuple(common.DATA_DEFAULTS),
                   help="data set (default digits: scikit-learn's 8x8 digits, no download)")
    p.add_argument("--data-dir", default=None,
                   help=f"folder of the data files (default ./{common.DEFAULT_DATA_DIR})")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training split (default per data set)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch size (default per data set); under mpiexec the global batch: each of the "
                        "N ranks takes batch-size / N")
    p.add_argument("--lr", type=common.positive_finite_float, default=None,
                   help="learning rate, a positive finite number (default per data set)")
    p.add_argument("--optimizer", default="sgd", choices=common.OPTIMIZERS, help="default sgd")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    p.add_argument("--hidden", type=int, default=100, help="hidden units of the two-layer net (default 100)")
    p.add_argument("--augment", action="store_true",
                   help="random shifts (and flips for cifar10) of training images")
    p.add_argument("--seed", type=common.seed_int, default=0,
                   help="random seed for weights and batch order, 0 <= seed < 2**64 (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--out", default=None, help="output folder (default runs/<date-time>)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (under mpiexec rank 0 draws it even into a log file: "
                        "pass --quiet there)")
    text = p.add_argument_group("text models (--model gpt)")
    text.add_argument("--text", default=None, help="a plain-text file to train on")
    text.add_argument("--steps", type=int, default=None, help="optimizer steps")
    text.add_argument("--eval-interval", type=int, default=None, help="steps between held-out evaluations")
    _add_family_arguments(p)
    p.set_defaults(run=run)
    return p


def _add_family_arguments(p) -> None:
    """Flags a model family's own trainer defines (e.g. the GPT's shape), when that module exists."""
    try:
        from numtorch.cli.train_text import add_train_arguments
    except ImportError:
        return
    add_train_arguments(p)


def _dispatch(module: str, args) -> int:
    """Hands text and detection training to the modules that own them."""
    import importlib
    try:
        mod = importlib.import_module(f"numtorch.cli.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"numtorch.cli.{module}":
            raise
        raise CLIError(f"--model {args.model} needs numtorch.cli.{module}, "
                       "which this numtorch does not have") from None
    return mod.run(args)


def _check(args) -> None:
    for name in ("epochs", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise CLIError(f"--lr must be positive, got {args.lr}")
    if args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if args.hidden < 1:
        raise CLIError(f"--hidden must be at least 1, got {args.hidden}")


def default_out_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


DISPATCH = {"gpt": "train_text", "detector": "train_detect"}


def run(args) -> int:
    from numtorch.distributed import launch_context
    from numtorch.distributed.launch import launched_distributed
    if args.model in DISPATCH and not launched_distributed():
        args.out = str(args.out or default_out_dir())
        with common.removed_if_left_empty(common.check_out_dir(Path(args.out))):
            return _dispatch(DISPATCH[args.model], args)
    with launch_context() as ctx:  # one process, or one rank of an mpiexec job
        try:
            config, data = _on_every_rank(ctx, _setup_main_checks_out, args, ctx.world_size, ctx.is_main)
        except BaseException:  # this or another rank failed: the folder rank 0 made goes again
            common.remove_if_empty(getattr(args, "made_out", None))
            raise
        if ctx.is_main and data.note:
            print(f"note: {data.note}")
        if ctx.distributed:
            asked = args.batch_size or common.DATA_DEFAULTS[args.data][1]
            ctx.print(f"data-parallel on {ctx.world_size} ranks: global batch {config['batch_size']} = "
                      f"{config['batch_size'] // ctx.world_size} per rank" +
                      (f" (batch size {asked} rounded up to a multiple of {ctx.world_size})"
                       if asked != config["batch_size"] else ""))
        try:
            with common.removed_if_left_empty(args.made_out if ctx.is_main else None):
                result = train(config, data, device=args.device, progress=not args.quiet and ctx.is_main,
                               log=ctx.print if ctx.distributed else print, ctx=ctx)
            if ctx.is_main:  # rank 0 alone writes and reports
                paths = save_run(Path(args.out), config, result)
                print(f"held-out accuracy {result['history']['test_acc'][-1]:.4f}")
                for what, path in paths.items():
                    print(f"{what}: {path}", flush=ctx.distributed)
        except Exception as e:  # noqa: BLE001
            if not ctx.distributed:
                raise
            _abort_job(ctx, e)
    return 0


def _setup_main_checks_out(args, world_size: int, is_main: bool) -> tuple:
    """``setup``; the rank that writes (rank 0) also makes sure ``--out`` can be written, before any
    training (its ``args.out`` is then the folder, default ``runs/<date-time>``)."""
    result = setup(args, world_size)
    if is_main:
        args.out = str(args.out or default_out_dir())
        args.made_out = common.check_out_dir(Path(args.out))
    return result


def setup(args, world_size: int = 1) -> tuple:
    """Checks the arguments and loads the data: ``(config, data)``.

    In a job of several ranks ``config["batch_size"]`` is the global batch, a multiple of the
    world size (each rank takes ``batch_size // world_size``), and ``config["world_size"]`` is set.
    """
    if args.model in DISPATCH:
        raise CLIError(f"--model {args.model} does not train data-parallel: run it without mpiexec")
    _check(args)
    if world_size > 1 and args.device != "cpu":
        raise CLIError(f"--device {args.device}: data-parallel training from the command line runs on CPUs "
                       "(MPI); train on a GPU without mpiexec")
    epochs, batch_size, lr = (given if given is not None else default for given, default in
                              zip((args.epochs, args.batch_size, args.lr), common.DATA_DEFAULTS[args.data]))
    data = common.load_data(args.data, args.data_dir)
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    config = {"model": args.model, "data": args.data, "data_dir": data_dir,
              "image_shape": list(data.image_shape), "hidden": args.hidden, "classes": data.classes,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": args.optimizer,
              "weight_decay": args.weight_decay, "seed": args.seed, "augment": args.augment,
              "input_scale": "pixels / 255"}
    if world_size > 1:  # each rank takes an equal share; rounded up when the batch does not divide
        config.update(batch_size=-(-batch_size // world_size) * world_size, world_size=world_size)
    return config, data


def _on_every_rank(ctx, setup_fn, *args) -> tuple:
    """``setup_fn(*args) -> (config, data)`` on every rank; the ranks go on only if it worked on all of them
    with the same config.  Otherwise every rank leaves at once: the first rank that failed raises its
    error (one line from ``main``), the others exit with status 1 quietly -- one line, not N.
    """
    if not ctx.distributed:
        return setup_fn(*args)
    from numtorch.distributed import all_gather_object
    error, report = None, {}
    try:
        config, data = setup_fn(*args)
        report = {"config": config}
    except Exception as e:  # noqa: BLE001 - told to every rank below
        error, report = e, {"error": _one_line(e)}
    reports = [None] * ctx.world_size
    all_gather_object(reports, report)  # JSON: the configs compare as JSON values on every rank
    failed = [r for r, rep in enumerate(reports) if "error" in rep]
    if failed:
        if ctx.rank != failed[0]:
            raise SystemExit(1)
        if len(failed) == ctx.world_size:
            raise error  # the same error everywhere: say it once, as a plain run would
        raise CLIError(f"rank {ctx.rank}: {reports[ctx.rank]['error']}") from error
    differs = [r for r, rep in enumerate(reports) if rep["config"] != reports[0]["config"]]
    if differs:
        if not ctx.is_main:
            raise SystemExit(1)
        theirs = reports[differs[0]]["config"]
        keys = ", ".join(f"{k} {reports[0]['config'].get(k)!r} vs {theirs.get(k)!r}"
                         for k in sorted(set(theirs) | set(reports[0]["config"]))
                         if theirs.get(k) != reports[0]["config"].get(k))
        raise CLIError(f"rank {differs[0]} was started with other settings than rank 0 ({keys}): "
                       "every rank must run the same command")
    return config, data


def _one_line(e: BaseException) -> str:
    from numtorch.cli.main import _one_line as one_line  # main's wording of errors
    return one_line(e)


def _abort_job(ctx, error: BaseException) -> None:
    """One rank failed during training: the others would wait for it in their next collective, so
    print one line naming the rank and end every rank (MPI_Abort), non-zero."""
    import os
    import traceback
    from numtorch.distributed import abort_job
    from numtorch.distributed.faults import report
    if os.environ.get("NUMTORCH_DEBUG"):
        traceback.print_exc()
    report(f"numtorch train: error: rank {ctx.rank}: {_one_line(error)} "
           f"(stopping all {ctx.world_size} ranks)")
    abort_job(1)


def train(config: dict, data: common.DataBundle, device: str = "cpu", progress: bool = True,
          log=print, ctx=None) -> dict:
    """Trains the configured model on ``data``; returns the model, optimizer and per-epoch history.

    With ``ctx``, a ``numtorch.distributed.launch_context()`` of several ranks (every rank calls this
    with the same config): the model is wrapped in DistributedDataParallel, each rank trains on its
    share of each epoch (a ``DistributedSampler``, ``config["batch_size"] // world_size`` per step),
    and the epoch's figures are summed over the ranks, so every rank returns the same history.
    """
    world = ctx.world_size if ctx is not None and ctx.distributed else 1
    numtorch.manual_seed(config["seed"])  # every rank: the same initial weights
    model = common.build_model(dict(config, image_shape=tuple(config["image_shape"]))).to(device)
    net = ctx.wrap(model) if world > 1 else model  # DDP: backward averages the gradients over ranks
    optimizer = common.build_optimizer(config["optimizer"], model.parameters(), config["lr"],
                                       config["weight_decay"])
    generator = numtorch.Generator().manual_seed(config["seed"])  # the batch order
    rng = np.random.default_rng(config["seed"] + (ctx.rank if world > 1 else 0))  # the augmentation
    sampler = ctx.sampler(data.train, shuffle=True, seed=config["seed"]) if world > 1 else None
    batch_size = config["batch_size"] // world  # per rank
    test = common.shard(data.test, ctx.rank, world) if world > 1 else data.test  # this rank's held-out share
    history = {k: [] for k in ("train_loss", "train_acc", "test_loss", "test_acc", "step_loss")}
    n_batches = -(-(len(data.train) if sampler is None else len(sampler)) // batch_size)
    for epoch in range(1, config["epochs"] + 1):
        bar = common.progress_bar(n_batches, f"epoch {epoch}/{config['epochs']}", progress,
                                  even_without_terminal=world > 1)
        if sampler is not None:
            sampler.set_epoch(epoch - 1)  # a new order each epoch, the same on every rank
        batches = common.batches(data.train, batch_size, shuffle=True, generator=generator, sampler=sampler)
        if config["augment"]:
            flip = config["data"] == "cifar10"
            batches = ((common.augment_batch(x, rng, flip), y) for x, y in batches)
        train_sums = train_epoch(net, optimizer, batches, device, bar, history["step_loss"])
        if world > 1:
            _sync_buffers(model)  # BatchNorm statistics: rank 0's, as in the checkpoint
        test_sums = common.evaluate_sums(model, test, device=device)
        if world > 1:
            train_sums, test_sums = _sum_over_ranks(train_sums, test_sums, history["step_loss"], n_batches,
                                                    world)
        (train_loss, train_acc), (test_loss, test_acc) = _means(train_sums), _means(test_sums)
        for key, value in zip(("train_loss", "train_acc", "test_loss", "test_acc"),
                              (train_loss, train_acc, test_loss, test_acc)):
            history[key].append(value)
        log(f"epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f} | "
            f"held-out loss {test_loss:.4f} acc {test_acc:.4f}")
    return {"model": model, "optimizer": optimizer, "history": history}


def _means(sums: tuple) -> tuple:
    """``(loss sum, correct, count)`` -> ``(mean loss, accuracy)``."""
    loss_sum, correct, seen = sums
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def _sum_over_ranks(train_sums: tuple, test_sums: tuple, step_losses: list, n_steps: int,
                    world: int) -> tuple:
    """Adds the ranks' epoch sums and averages this epoch's per-step losses over the ranks, in one
    all-reduce: every rank then holds the figures of the whole job.  (The shares of a
    DistributedSampler are equally long, so every rank took ``n_steps`` steps of equal size, and the
    mean of the ranks' step losses is the loss of the global batch.)"""
    from numtorch.distributed import all_reduce
    own = step_losses[len(step_losses) - n_steps:]
    t = numtorch.from_numpy(np.array([*train_sums, *test_sums, *own], dtype=np.float64))
    all_reduce(t)  # SUM, in place
    v = t.numpy()
    step_losses[len(step_losses) - n_steps:] = (v[6:] / world).tolist()
    return ((float(v[0]), int(round(v[1])), int(round(v[2]))),
            (float(v[3]), int(round(v[4])), int(round(v[5]))))


def _sync_buffers(model) -> None:
    """Broadcasts rank 0's buffers (BatchNorm running statistics): each rank updated its own copy in
    its last forward, and the held-out figures should be those of the model rank 0 saves."""
    from numtorch.distributed import broadcast
    for b in model.buffers():
        broadcast(b, 0)


def train_epoch(model, optimizer, batches, device, bar, step_losses: list) -> tuple:
    """One pass of mini-batch training; returns the epoch's summed loss, number correct and number seen."""
    import numtorch.nn.functional as F
    model.train()
    seen, loss_sum, correct = 0, 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        logits = model(x)                      # forward: class scores
        loss = F.cross_entropy(logits, y)      # softmax + cross-entropy, mean over the batch
        batch_loss = common.check_finite_loss(float(loss.item()), f"step {len(step_losses) + 1}")
        optimizer.zero_grad()
        loss.backward()                        # backward: d loss / d parameter for every parameter
        optimizer.step()                       # the update, e.g. W <- W - lr * dL/dW
        seen, loss_sum = seen + len(y), loss_sum + batch_loss * len(y)
        correct += int((logits.argmax(1) == y).sum().item())
        step_losses.append(batch_loss)
        bar.update(1)
        bar.set_postfix_str(f"loss={loss_sum / seen:.4f} acc={correct / seen:.4f}")
    bar.close()
    return loss_sum, correct, seen


def save_run(out: Path, config: dict, result: dict) -> dict:
    """Writes ``checkpoint.safetensors`` (numtorch.save), ``history.json`` and ``curves.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt = {"model": result["model"].state_dict(), "optimizer": result["optimizer"].state_dict(),
            "config": config, "classes": config["classes"], "history": {
                k: v for k, v in result["history"].items() if k != "step_loss"}}
    paths = {"checkpoint": out / "checkpoint.safetensors"}
    numtorch.save(ckpt, str(paths["checkpoint"]))
    paths["history"] = common.write_text_atomic(out / "history.json", common.dump_json(result["history"]))
    try:
        from numtorch.viz import plot_training_curves
        paths["curves"] = plot_training_curves(
            result["history"], out / "curves.png",
            title=f"{config['model']} on {config['data']} ({config['optimizer']}, lr {config['lr']})")
    except RuntimeError as e:  # matplotlib missing: the checkpoint still counts
        print(f"note: no plot ({e})")
    return paths
