"""jit's canonical inputs: every layout the show hands a compiled call reaches it as one graph's input."""

from __future__ import annotations

import torch
from torch._dynamo.utils import counters

from vj.engine.compile.jit import graph_input


def _layouts() -> list[torch.Tensor]:
    """[2, 3, 8, 8] as the show makes it: expanded batch, expanded channel, permuted HWC, a view, plain."""
    with torch.inference_mode():
        plain = torch.rand(2, 3, 8, 8)
        return [plain, plain[:1].expand(2, -1, -1, -1), plain[:, :1].expand(-1, 3, -1, -1),
                torch.rand(2, 8, 8, 3).permute(0, 3, 1, 2), torch.rand(4, 3, 8, 8)[2:]]


def test_every_layout_becomes_a_contiguous_inference_tensor_and_keeps_its_values() -> None:
    outside = torch.rand(2, 3, 8, 8)  # made outside inference mode
    for x in [*_layouts(), outside]:
        with torch.inference_mode():
            y = graph_input(x)
        assert y.is_inference() and y.is_contiguous() and y.storage_offset() == 0 and torch.equal(y, x)
    with torch.inference_mode():
        ready = torch.rand(1, 3, 8, 8)
        assert graph_input(ready) is ready  # nothing copied that is already canonical
        odd = torch.rand(1, 6, 8, 8)[:, :3]  # contiguous by is_contiguous, but its size-1 dimension's stride is 384
        assert odd.is_contiguous() and graph_input(odd) is not odd and graph_input(odd).stride()[0] == 192
        pair = graph_input((ready, odd))
        assert isinstance(pair, tuple) and pair[0] is ready and pair[1].stride() == (192, 64, 8, 1)
    assert graph_input(None) is None


def _graphs_for(prepare) -> int:  # noqa: ANN001
    def double(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    compiled = torch.compile(double, backend="eager")
    outside = torch.rand(2, 3, 8, 8)  # a normal tensor: other dispatch keys than an inference tensor's
    before = counters["stats"]["unique_graphs"]
    with torch.inference_mode():
        for x in [*_layouts(), outside]:
            compiled(prepare(x))
    return counters["stats"]["unique_graphs"] - before


def test_one_graph_serves_every_layout_only_through_graph_input() -> None:
    assert _graphs_for(graph_input) == 1
    assert _graphs_for(lambda x: x) > 1  # Dynamo guards strides and dispatch keys: the reason for the copy


def test_a_show_warming_up_more_sizes_than_dynamos_limit_keeps_every_graph_compiled() -> None:
    import torch._dynamo

    from vj.engine.compile.jit import allow_graphs, graphs_needed

    shapes = {(64 + 8 * k, 64, batch) for k in range(6) for batch in (1, 2)}  # six sizes × two batches
    assert graphs_needed(shapes, units=0) == 12 and graphs_needed(shapes, units=2) == 24

    def compiled_shapes(count: int) -> int:
        """How many of `count` shapes one compiled function ran compiled (Dynamo's eager backend: no codegen)."""
        torch._dynamo.reset()
        fn = torch.compile(lambda x: x * 2 + 1, backend="eager", dynamic=False)
        before = counters["stats"]["unique_graphs"]
        for n in range(1, count + 1):
            fn(torch.ones(n))
        return counters["stats"]["unique_graphs"] - before

    limit = torch._dynamo.config.recompile_limit
    try:
        torch._dynamo.config.recompile_limit = 8  # Dynamo's default
        assert compiled_shapes(12) == 8  # past the limit the rest ran eager, with no error
        allow_graphs(graphs_needed(shapes, units=0))
        assert torch._dynamo.config.recompile_limit >= 12 and compiled_shapes(12) == 12
    finally:
        torch._dynamo.config.recompile_limit = limit
        torch._dynamo.reset()


def test_on_cuda_each_warmed_shape_compiles_to_a_static_graph_of_its_own() -> None:
    """CFG's batch 2 after batch 1 (or a second size) must not turn into one symbolic-shape graph."""
    from vj.engine.compile.jit import compile_settings

    settings = compile_settings(torch.device("cuda"))
    assert settings["mode"] == "reduce-overhead"
    symbolic: list[bool] = []

    def record(gm: torch.fx.GraphModule, example_inputs: list[object]) -> object:
        symbolic.append(any(isinstance(x, torch.SymInt) or (isinstance(x, torch.Tensor) and any(
            isinstance(d, torch.SymInt) for d in x.shape)) for x in example_inputs))
        return gm.forward

    def double(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    # The CUDA settings less the mode (CUDA graphs need a GPU); the shape policy is what is tested.
    compiled = torch.compile(double, backend=record, **{k: v for k, v in settings.items() if k != "mode"})
    compiled(torch.rand(1, 4, 8, 8))
    compiled(torch.rand(2, 4, 8, 8))
    assert symbolic == [False, False]
