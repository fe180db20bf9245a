"""Depth of the previous frame for the 3D warp: a transformers depth-estimation model on the device.

`DepthEstimator.nearness(image)` returns a map d in [0, 1], 1 = nearest, at the frame's
size, which `vj.engine.warp.warp3d.z_from_nearness` turns into depth. Per call it resizes the
frame to a reduced resolution (a multiple of the model's patch size), normalises it with
the model processor's mean and std, runs the model, brings the estimate back to the frame
size, normalises it to [0, 1] and histogram-equalises it (1024 bins), as Deforum does, so
every frame spreads over the same depth range. The model runs every `every_n` calls (the
last map is reused in between) and each new map is blended into the last one
(`ema` = fraction of the old map kept), so depth flicker does not shake the picture.

All of it runs on the device without a host read: min, max and the histogram are device
reductions, and the mean/std tensors are made once per device and dtype.

Sources: a Hugging Face id (from the local cache only: vj never downloads a depth model),
a local folder, `tiny` (a random Depth Anything built from config, for tests and the demo)
or one of Deforum's `depth_algorithm` names, mapped to the nearest transformers model.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vj.depth_sources import TINY_DEPTH
from vj.errors import BackendUnavailable

log = logging.getLogger(__name__)

EQUALISE_BINS = 1024  # Deforum's histogram equalisation
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what Depth Anything's processor uses (and the tiny model)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Model types whose output is metric depth (larger = farther); the rest predict relative
# inverse depth (larger = nearer), as MiDaS/DPT and Depth Anything's relative models do.
_METRIC_TYPES = {"zoedepth", "glpn", "depth_pro"}


@dataclass(frozen=True)
class DepthModel:
    """A loaded depth-estimation model and what its input and output mean."""

    module: Any  # a transformers *ForDepthEstimation model, in eval mode on its device
    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    patch: int  # input sides must be multiples of this
    metric: bool  # output is depth (larger = farther) rather than inverse depth
    keep_aspect: bool = True  # the processor keeps the frame's aspect (else a square input)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype


def tiny_depth_config() -> Any:
    """A Depth Anything with a 4-layer, 32-wide DINOv2 backbone: the real architecture, tiny."""
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2, image_size=56,
                            patch_size=14, out_indices=[1, 2, 3, 4],  # type: ignore[call-arg]
                            apply_layernorm=True, reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
                               fusion_hidden_size=16, head_hidden_size=8, patch_size=14)


def depth_model_from_module(module: Any, name: str, mean: tuple[float, float, float] = IMAGENET_MEAN,
                            std: tuple[float, float, float] = IMAGENET_STD, keep_aspect: bool = True) -> DepthModel:
    config = module.config
    metric = config.model_type in _METRIC_TYPES or getattr(config, "depth_estimation_type", "") == "metric"
    patch = int(getattr(config, "patch_size", None) or getattr(getattr(config, "backbone_config", None),
                                                                "patch_size", 1) or 1)
    return DepthModel(module.eval(), name, mean, std, patch, metric, keep_aspect)


def build_tiny_depth_model(device: torch.device, dtype: torch.dtype, seed: int = 0) -> DepthModel:
    from transformers import DepthAnythingForDepthEstimation

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module: Any = DepthAnythingForDepthEstimation(tiny_depth_config())
    return depth_model_from_module(module.to(device=device, dtype=dtype), TINY_DEPTH)


Stats = tuple[float, float, float]


def _processor_config(folder: Path, name: str) -> tuple[Stats, Stats, bool]:
    """The processor's mean, std and whether it keeps the aspect ratio (DPT's processors do not)."""
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        raise BackendUnavailable(f"depth model {name!r} has no preprocessor_config.json (its image mean and std)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mean, std = tuple(float(v) for v in data["image_mean"]), tuple(float(v) for v in data["image_std"])
        keep_aspect = bool(data.get("keep_aspect_ratio", False))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BackendUnavailable(f"depth model {name!r}: preprocessor_config.json has no readable image_mean/"
                                 f"image_std ({err})") from err
    if len(mean) != 3 or len(std) != 3:
        raise BackendUnavailable(f"depth model {name!r}: expected 3 image_mean/image_std values, found "
                                 f"{len(mean)}/{len(std)}")
    return mean, std, keep_aspect  # type: ignore[return-value]


def depth_model_folder(source: str) -> Path:
    """The model's folder: a local path, or the cached snapshot of a hub id (never downloaded)."""
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BackendUnavailable(f"depth model folder {source!r} has no config.json: expected a transformers "
                                     "depth-estimation model saved with save_pretrained")
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as err:
        raise BackendUnavailable(
            f"depth model {source!r} is not in the local Hugging Face cache (vj does not download depth models: "
            f"run `huggingface-cli download {source}` on a machine with network), or use --depth-model tiny "
            f"(a random test model) or --depth-model none (a flat plane)") from err


def load_depth_model(source: str, device: torch.device, dtype: torch.dtype) -> DepthModel:
    """A depth model by resolved source (see `resolve_depth_source`). Raises `BackendUnavailable`."""
    if source == TINY_DEPTH:
        return build_tiny_depth_model(device, dtype)
    folder = depth_model_folder(source)
    mean, std, keep_aspect = _processor_config(folder, source)
    from transformers import AutoModelForDepthEstimation

    try:
        module = AutoModelForDepthEstimation.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    except Exception as err:  # noqa: BLE001 - a wrong or partial folder can fail anywhere inside
        first = str(err).splitlines()[0] if str(err) else ""
        raise BackendUnavailable(f"depth model {source!r} could not be loaded as a transformers depth-estimation "
                                 f"model ({type(err).__name__}: {first})") from err
    model = depth_model_from_module(module.to(device), source, mean, std, keep_aspect)
    log.info("loaded depth model %s on %s (%s output)", source, device, "metric" if model.metric else "inverse-depth")
    return model


def model_input_size(width: int, height: int, resolution: int, patch: int) -> tuple[int, int]:
    """(h, w) with the longer side about `resolution` (never above the frame's), multiples of `patch`."""
    scale = min(resolution / max(width, height), 1.0)
    def side(n: int) -> int:
        return max(patch, round(n * scale / patch) * patch)
    return side(height), side(width)


def normalised_nearness(estimate: torch.Tensor, metric: bool) -> torch.Tensor:
    """A raw [N, 1, H, W] estimate → nearness in [0, 1], histogram-equalised; a flat map is all 1."""
    raw = estimate.float().nan_to_num(0.0, 0.0, 0.0)
    if metric:
        raw = 1.0 / raw.clamp(min=1e-6)
    lo, hi = raw.amin(), raw.amax()
    unit = (raw - lo) / (hi - lo).clamp(min=1e-12)
    bins = (unit * (EQUALISE_BINS - 1)).round().long().clamp(0, EQUALISE_BINS - 1).reshape(-1)
    counts = torch.zeros(EQUALISE_BINS, device=raw.device, dtype=torch.float32)
    counts.scatter_add_(0, bins, torch.ones_like(bins, dtype=torch.float32))
    cdf = counts.cumsum(0) / bins.numel()  # cdf of a flat map is 1 everywhere: the plane at z = 1
    return cdf[bins].reshape(raw.shape)


def _check_settings(patch: int, resolution: int, every_n: int, ema: float) -> None:
    if resolution < patch or every_n < 1 or not 0.0 <= ema < 1.0:
        raise ValueError(f"depth: resolution >= {patch}, every_n >= 1 and 0 <= ema < 1 expected, found "
                         f"{resolution}, {every_n}, {ema}")


class DepthEstimator:
    """Nearness maps of frames at a reduced resolution, every N calls, blended over time."""

    def __init__(self, model: DepthModel, *, resolution: int = 252, every_n: int = 1, ema: float = 0.5) -> None:
        _check_settings(model.patch, resolution, every_n, ema)
        self.model = model
        self.resolution = resolution
        self.every_n = every_n
        self.ema = ema
        # Settings asked for from another thread (a preset switch), taken up by the next `nearness`.
        self._pending: tuple[int, int, float] | None = None
        self._pending_lock = threading.Lock()
        self._calls = 0
        self._state: torch.Tensor | None = None
        self._stats: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
        self._mean_std(model.device, model.dtype)  # made now: the show's first depth frame copies nothing
        self.estimates = 0  # how many times the model ran

    @property
    def latest(self) -> torch.Tensor | None:
        """The last nearness map handed out, [1, 1, H, W] float32 on the device."""
        return self._state

    def reset(self) -> None:
        self._calls = 0
        self._state = None

    def request_settings(self, *, resolution: int, every_n: int, ema: float) -> None:
        """New settings from any thread; the next `nearness` (a frame boundary on the render thread) takes them up.

        None of them reloads the model: the input size is worked out per call. Raises ValueError
        (nothing changes) for settings the model cannot take.
        """
        _check_settings(self.model.patch, resolution, every_n, ema)
        with self._pending_lock:
            self._pending = (resolution, every_n, ema)

    def _take_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is None or pending == (self.resolution, self.every_n, self.ema):
            return
        self.resolution, self.every_n, self.ema = pending
        self._calls = 0  # the next frame estimates with the new settings; the last map stays for the blend

    def _mean_std(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (device, dtype)
        if key not in self._stats:  # one host→device copy per device and dtype, not per frame
            mean = torch.tensor(self.model.mean, dtype=dtype).view(1, 3, 1, 1).to(device)
            std = torch.tensor(self.model.std, dtype=dtype).view(1, 3, 1, 1).to(device)
            self._stats[key] = (mean, std)
        return self._stats[key]

    def estimate(self, image: torch.Tensor) -> torch.Tensor:
        """One model run: [1, 3, H, W] RGB in [0, 1] → nearness [1, 1, H, W], not blended."""
        _, _, height, width = image.shape
        if self.model.keep_aspect:
            size = model_input_size(width, height, self.resolution, self.model.patch)
        else:
            size = model_input_size(self.resolution, self.resolution, self.resolution, self.model.patch)
        dtype = self.model.dtype
        x = F.interpolate(image.to(dtype), size=size, mode="bilinear", align_corners=False, antialias=True)
        mean, std = self._mean_std(x.device, dtype)
        predicted = self.model.module(pixel_values=(x - mean) / std).predicted_depth
        if predicted.dim() == 3:
            predicted = predicted.unsqueeze(1)
        full = F.interpolate(predicted.float(), size=(height, width), mode="bilinear", align_corners=False)
        self.estimates += 1
        return normalised_nearness(full, self.model.metric)

    def nearness(self, image: torch.Tensor) -> torch.Tensor:
        """This frame's nearness map: a new estimate every `every_n` calls, blended by `ema`."""
        if self._pending is not None:  # a plain read first: no lock taken on the frames without a change
            self._take_pending()
        due = self._calls % self.every_n == 0
        self._calls += 1
        state = self._state
        if state is not None and tuple(state.shape[-2:]) != tuple(image.shape[-2:]):
            state = None  # the frame size changed: start again
        if state is not None and not due:
            return state
        fresh = self.estimate(image)
        self._state = fresh if state is None or self.ema == 0.0 else torch.lerp(fresh, state, self.ema)
        return self._state
