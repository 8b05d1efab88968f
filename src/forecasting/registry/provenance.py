"""Where an artifact came from: the git commit and the hash of the data."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from pathlib import Path

from forecasting.core.files import file_sha256


def git_commit(repo_root: Path) -> tuple[str, bool]:
    """The HEAD commit and whether the code or params differ from it ("unknown" outside git).

    ``dvc.lock`` and ``reports/`` are left out: the pipeline itself rewrites them while it runs,
    and they describe its outputs, not its inputs.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)dvc.lock",
                ":(exclude)reports",
            ],
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(dirty)


def data_fingerprint(files: list[Path]) -> str:
    """One sha256 over the named files' contents (in the given order): the data a model saw."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def dvc_lock_hashes(lock_file: Path, paths: list[str]) -> dict[str, str]:
    """The md5 ``dvc.lock`` records for each output path (missing ones are left out)."""
    import yaml

    if not lock_file.is_file():
        return {}
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    found: dict[str, str] = {}
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") in paths:
                found[out["path"]] = str(out.get("md5", ""))
    return found


def environment() -> dict[str, str]:
    """What produced a model: interpreter, torch, CUDA/cuDNN, determinism, the processor."""
    import platform

    import torch

    cuda = torch.cuda.is_available()
    return {
        "env.python": platform.python_version(),
        "env.torch": torch.__version__,
        "env.cuda": str(torch.version.cuda) if cuda else "none",
        "env.cudnn": str(torch.backends.cudnn.version()) if cuda else "none",
        "env.deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()).lower(),
        "env.cudnn_deterministic": str(torch.backends.cudnn.deterministic).lower(),
        "env.device_name": torch.cuda.get_device_name(0) if cuda else cpu_name(),
        # weights are bit-identical only on the same instruction set: record what torch used
        "env.cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "env.torch_threads": str(torch.get_num_threads()),
    }


def cpu_name() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else the architecture."""
    import platform

    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
