"""Counting host→device copies while a block of code runs.

The `meta` device raises on every host read of device data and on every device mismatch,
but lets a CPU tensor be copied to it: on a GPU that copy is a transfer from pageable
memory that makes the CPU wait. So while a steady-state frame runs, every Python-level way
of making one is wrapped and counted, with where it was made from. A non-blocking copy out
of a pinned staging tensor is the one allowed kind, and is counted apart.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Transfers:
    copies: list[str] = field(default_factory=list)  # what, and the line of vj/diffusers code that made it
    staged: list[str] = field(default_factory=list)  # non-blocking copies from pinned memory

    def report(self) -> str:
        return "\n".join(self.copies) or "none"


def _where() -> str:
    frames = [f for f in traceback.extract_stack()[:-3] if "tests/contract" not in f.filename]
    inner = frames[-3:]
    return " <- ".join(f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno} {f.line}" for f in reversed(inner))


def _on_host(t: object) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "cpu"


def _on_device(t: object) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type != "cpu"


@contextmanager
def count_host_to_device() -> Iterator[Transfers]:
    found = Transfers()
    originals: dict[tuple[Any, str], Any] = {}

    def wrap(owner: Any, name: str, check: Any) -> None:
        original = getattr(owner, name)
        originals[(owner, name)] = original

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            check(result, args, kwargs)
            return result

        setattr(owner, name, wrapped)

    def record(what: str, source: torch.Tensor | None, non_blocking: bool) -> None:
        pinned = source is not None and source.is_pinned()
        (found.staged if pinned and non_blocking else found.copies).append(f"{what}: {_where()}")

    def check_to(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if _on_host(args[0]) and _on_device(result):
            record(f"Tensor.to({tuple(result.shape)})", args[0], bool(kwargs.get("non_blocking")))

    def check_copy(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        dest, src = args[0], args[1]
        if _on_device(dest) and _on_host(src):
            record(f"Tensor.copy_({tuple(src.shape)})", src, bool(kwargs.get("non_blocking", args[2:3] == (True,))))

    def check_created(name: str) -> Any:
        def check(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if _on_device(result):
                record(f"torch.{name}(shape {tuple(result.shape)})", None, False)
        return check

    def check_setitem(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if _on_device(args[0]) and _on_host(args[2]) and args[2].dim() > 0:
            record("Tensor.__setitem__", args[2], False)

    wrap(torch.Tensor, "to", check_to)
    wrap(torch.Tensor, "copy_", check_copy)
    wrap(torch.Tensor, "cuda", lambda r, a, k: record("Tensor.cuda", a[0], bool(k.get("non_blocking"))))
    wrap(torch.Tensor, "__setitem__", check_setitem)
    for name in ("tensor", "as_tensor", "asarray"):
        wrap(torch, name, check_created(name))
    try:
        yield found
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


@contextmanager
def count_device_to_host() -> Iterator[list[str]]:
    """Device→host copies made outside the publisher's one asynchronous copy (the contract stubs that one).

    On `meta` such a copy raises; it is recorded first, so the count names it. On a GPU each is a
    copy the host waits for: with the pipeline one frame deep, a drain every frame.
    """
    found: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in ("copy_", "cpu", "numpy", "tolist", "to")}

    def copy_(dest: torch.Tensor, src: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if _on_host(dest) and _on_device(src):
            found.append(f"Tensor.copy_({tuple(src.shape)}) to the host: {_where()}")
        return originals["copy_"](dest, src, *args, **kwargs)

    def out_of(name: str) -> Any:
        def read(t: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            target = args[0] if args else kwargs.get("device")
            to_host = name != "to" or (isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu")
            if _on_device(t) and to_host:
                found.append(f"Tensor.{name}({tuple(t.shape)}): {_where()}")
            return originals[name](t, *args, **kwargs)
        return read

    torch.Tensor.copy_ = copy_  # type: ignore[method-assign, assignment]
    for name in ("cpu", "numpy", "tolist", "to"):
        setattr(torch.Tensor, name, out_of(name))
    try:
        yield found
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
