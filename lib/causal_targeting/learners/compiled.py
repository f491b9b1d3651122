"""Prediction engines for LightGBM boosters: LightGBM itself, or trees compiled by lleaves.

An engine maps a booster's model string and a model array (:meth:`FeatureSpec.array`: float64,
categorical features as their codes in the levels stored at fit, NaN where missing or unseen) to
the booster's predictions, exactly what ``lightgbm.Booster(model_str=s).predict(X)`` returns:
the objective's transform is applied (the sigmoid for ``binary``, the identity for
``regression``), not the raw score.

:class:`CompiledEngine` compiles each booster once with lleaves (LLVM machine code for the
trees, in float64, so it agrees with LightGBM to rounding) and keeps the compiled object

- in memory, per process (a Spark Python worker compiles or loads each booster once), and
- on disk, under ``cache_dir``, as ``{sha256 of the model string}-{host tag}.o``, written
  atomically so concurrent workers on one machine share it. The host tag names the CPU and
  its features: machine code is only reused on the kind of CPU it was compiled for.

The objects can be shipped with the model (:meth:`CompiledEngine.compiled_objects` on the
driver, :meth:`CompiledEngine.install_objects` on a worker) so a cluster compiles once. The
driver compiles the boosters it has no object for side by side in worker processes (LLVM's
optimization, most of a compile, holds llvmlite's global lock, so threads would not overlap).
Where lleaves cannot compile a booster (an objective it does not implement, linear trees,
llvmlite missing), the engine logs why and predicts that booster with LightGBM.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from causal_targeting.errors import ConfigError
from causal_targeting.learners.artifact import Engine

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "CAUSAL_TARGETING_COMPILED_CACHE"
"""Environment variable naming the on-disk cache of compiled boosters (default: a temp dir)."""

_BOOSTERS: dict[str, lgb.Booster] = {}
_COMPILED: dict[str, Any] = {}
"""Per-process cache: object file path -> ``lleaves.Model`` (None where LightGBM predicts)."""
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1024)
def model_key(model_string: str) -> str:
    """Return the SHA-256 hex digest of a booster's model string: its identity in caches.

    Memoized: a string's own hash is cached by Python, so per-batch look-ups cost no hashing.
    """
    return hashlib.sha256(model_string.encode()).hexdigest()


@functools.cache
def host_tag() -> str:
    """Return a short tag for this machine's CPU (name + features) and the lleaves version."""
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:
        features = ""
    text = f"{llvm.get_host_cpu_name()}|{features}|{importlib.metadata.version('lleaves')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Return ``$CAUSAL_TARGETING_COMPILED_CACHE``, else ``<tempdir>/causal-targeting-lleaves``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "causal-targeting-lleaves"


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


COMPILE_COMMAND = (
    "import sys; from causal_targeting.learners.compiled import compile_model_files; "
    "compile_model_files(sys.argv[1], sys.argv[2:])"
)
"""What a compile worker runs: ``python -c COMMAND cache_dir model_file...``. A fresh
interpreter, not a multiprocessing child: spawn would re-run the caller's main script."""


def compile_model_files(cache_dir: str, model_files: list[str]) -> None:
    """Compile the boosters saved in ``model_files`` into ``cache_dir`` (a compile worker's
    work; each object file is written atomically, so its reader gets it whole or not at all)."""
    engine = CompiledEngine(cache_dir=cache_dir)
    for model_file in model_files:
        text = Path(model_file).read_text()
        engine._lleaves_model(text, engine.cache_dir / engine._object_name(text))


def lightgbm_booster(model_string: str) -> lgb.Booster:
    """Return the LightGBM booster for a model string, parsed once per process."""
    key = model_key(model_string)
    booster = _BOOSTERS.get(key)
    if booster is None:
        booster = lgb.Booster(model_str=model_string)
        _BOOSTERS[key] = booster
    return booster


class LightGBMEngine:
    """Predict with LightGBM's ``Booster.predict`` on ``n_threads`` threads."""

    def __init__(self, n_threads: int = 1) -> None:
        self.n_threads = n_threads

    def predict(self, model_string: str, features: np.ndarray) -> np.ndarray:
        """Return ``Booster.predict(features)`` for the booster ``model_string``."""
        booster = lightgbm_booster(model_string)
        return np.asarray(booster.predict(features, num_threads=self.n_threads), dtype=np.float64)


def unsupported_reason(model_string: str) -> str | None:
    """Return why lleaves would predict this booster wrongly, or None if it compiles it right.

    lleaves ignores the per-leaf linear models of ``linear_tree=True`` boosters, so they are
    refused here rather than compiled into silently different predictions.
    """
    if "\nis_linear=1" in model_string:
        return "linear trees (linear_tree=True) are not supported by lleaves"
    return None


class CompiledEngine:
    """Predict with boosters compiled by lleaves; fall back to LightGBM where that fails.

    Parameters
    ----------
    cache_dir:
        Directory of compiled objects shared by the processes of one machine; created on use.
        Default: :func:`default_cache_dir`.
    n_threads:
        Threads per prediction call (rows are split into ``n_threads`` contiguous blocks).
    processes:
        Worker processes :meth:`compiled_objects` compiles in; default: the available cores.
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        n_threads: int = 1,
        processes: int | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.n_threads = n_threads
        self.processes = processes if processes is not None else available_cores()
        self._fallback = LightGBMEngine(n_threads)

    def predict(self, model_string: str, features: np.ndarray) -> np.ndarray:
        """Return the compiled booster's predictions; LightGBM's if it could not be compiled."""
        compiled = self.compiled(model_string)
        if compiled is None:
            return self._fallback.predict(model_string, features)
        return np.asarray(compiled.predict(features, n_jobs=self.n_threads), dtype=np.float64)

    def compiled(self, model_string: str) -> Any:
        """Return the ``lleaves.Model`` compiled (or loaded) once per process; None if lleaves
        cannot compile this booster."""
        path = self.cache_dir / self._object_name(model_string)
        with _LOCK:
            if str(path) not in _COMPILED:
                _COMPILED[str(path)] = self._load_or_compile(model_string, path)
            return _COMPILED[str(path)]

    def compiled_objects(self, model_strings: Iterable[str]) -> dict[str, bytes]:
        """Compile the boosters (if needed) and return their object files' bytes, by file name.

        Boosters lleaves cannot compile (or whose file was removed since) are left out; a
        worker compiles or falls back for them itself.
        """
        strings = list(dict.fromkeys(model_strings))
        self.compile_side_by_side(strings)
        objects = {}
        for model_string in strings:
            path = self.cache_dir / self._object_name(model_string)
            if self.compiled(model_string) is not None and path.exists():
                objects[path.name] = path.read_bytes()
        return objects

    def compile_side_by_side(self, model_strings: list[str]) -> None:
        """Compile the boosters that have no object file yet in up to ``processes`` worker
        processes (:data:`COMPILE_COMMAND`), the boosters dealt out in turn; with one booster
        to compile or one process, nothing here (:meth:`compiled` compiles in process). A
        booster a worker did not compile is left to :meth:`compiled`, which compiles it or
        logs why not and falls back to LightGBM."""
        missing = self.uncompiled(model_strings)
        workers = min(self.processes, len(missing))
        if workers <= 1:
            return
        files = [str(self._model_file(text)) for text in missing]
        command = [sys.executable, "-c", COMPILE_COMMAND, str(self.cache_dir)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this process's imports
        running = [
            subprocess.Popen([*command, *files[w::workers]], env=env) for w in range(workers)
        ]
        for process in running:
            if process.wait() != 0:
                log.warning("a compile worker exited with code %d", process.returncode)

    def uncompiled(self, model_strings: Iterable[str]) -> list[str]:
        """The boosters of ``model_strings`` that lleaves can compile and that have no object
        file in this machine's cache yet."""
        return [
            text
            for text in model_strings
            if unsupported_reason(text) is None
            and not (self.cache_dir / self._object_name(text)).exists()
        ]

    def install_objects(self, objects: Mapping[str, bytes]) -> None:
        """Write shipped object files into this machine's cache unless already present.

        Objects compiled for another kind of CPU carry another host tag in their name and are
        simply never looked up here.
        """
        for name, data in objects.items():
            path = self.cache_dir / name
            if not path.exists():
                self._write_atomically(path, data)

    def _object_name(self, model_string: str) -> str:
        return f"{model_key(model_string)}-{host_tag()}.o"

    def _load_or_compile(self, model_string: str, object_file: Path) -> Any:
        name = object_file.name
        reason = unsupported_reason(model_string)
        if reason is not None:
            log.warning("booster %s predicted by LightGBM: %s", name[:12], reason)
            return None
        try:
            return self._lleaves_model(model_string, object_file)
        except Exception as exc:  # any compiler failure means: predict with LightGBM
            log.warning(
                "lleaves could not compile booster %s (%s: %s); predicting it with LightGBM",
                name[:12],
                type(exc).__name__,
                exc,
            )
            return None

    def _lleaves_model(self, model_string: str, object_file: Path) -> Any:
        import lleaves

        model = lleaves.Model(model_file=str(self._model_file(model_string)))
        if object_file.exists():
            model.compile(cache=str(object_file))
        else:
            scratch = object_file.with_name(
                f".{object_file.name}.{os.getpid()}.{threading.get_ident()}.tmp"
            )
            model.compile(cache=str(scratch))
            os.replace(scratch, object_file)
        return model

    def _model_file(self, model_string: str) -> Path:
        """The booster's model string saved under the cache (once), for lleaves to read."""
        model_file = self.cache_dir / f"{model_key(model_string)}.txt"
        if not model_file.exists():
            self._write_atomically(model_file, model_string.encode())
        return model_file

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        scratch.write_bytes(data)
        os.replace(scratch, path)


def make_engine(
    engine: str = "compiled", n_threads: int = 1, cache_dir: str | Path | None = None
) -> Engine:
    """Return the engine named ``engine``: ``"compiled"`` (lleaves) or ``"lightgbm"``."""
    if engine == "compiled":
        return CompiledEngine(cache_dir=cache_dir, n_threads=n_threads)
    if engine == "lightgbm":
        return LightGBMEngine(n_threads=n_threads)
    raise ConfigError(f"unknown prediction engine '{engine}'; use 'compiled' or 'lightgbm'")
