"""The packaged Bento's OCI image, built without a Docker daemon or a container registry.

Three steps, each cached or checked:

1. a **base image** made offline: ``debootstrap`` of Debian bookworm (its ``python3`` is 3.11,
   the version the bento declares) with CA certificates, including the host's extra CAs so TLS
   works inside builds, imported as an image, plus ``uv`` on the path, which BentoML's
   Dockerfile uses. Its tag hashes its recipe, so a changed recipe builds a new one and an
   unchanged one is reused;
2. a **build context**: the bento as BentoML lays it out for ``containerize`` (its files and its
   packed model), with BentoML's own v2 Dockerfile rendered for that base, but without the
   ``build-essential`` and ``git`` BentoML adds to every debian image (nothing is compiled:
   every package is a wheel), and with torch's CPU wheel, found where pip finds it, in the
   context: no CUDA wheel can be fetched;
3. the **image**, built by buildah, podman or Docker (in that order; Docker only where its daemon
   answers), its new layers squashed so what the install step prunes is really gone, labelled
   with the lineage: model version, weights sha256, git commit, data hash and Bento tag.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.core.files import file_sha256
from forecasting.serving.entrypoint import packed_weights, write_expected

logger = logging.getLogger(__name__)

BUILDERS = ("buildah", "podman", "docker")
SUITE = "bookworm"  # Debian 12: python3 is 3.11, the bento's python_version
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
UV_VERSION = "0.13.4"  # BentoML's Dockerfile runs `uv venv` / `uv pip install`
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
# Where the bento lives in the image (BentoML's layout) and where its wheels go.
BENTO_PATH = "/home/bentoml/bento"
WHEELS_DIR = "env/python/wheels"
# buildah and podman mount the wheels here for the build only (`--volume`), so the 190 MB torch
# wheel is not left in the image; Docker gets them in the context instead.
MOUNTED_WHEELS = "/opt/forecaster-wheels"
SITE_PACKAGES = "/app/.venv/lib/python3.11/site-packages"
# Never used by a CPU inference server (~250 MB): torch's headers, C++ tests and test binaries
# (torch/bin keeps torch_shm_manager, which `import torch` needs), its compiler (torch.compile
# is not used), and pandas' and numpy's test suites. Removed in the build's squashed layer.
PRUNED = (
    "torch/include",
    "torch/test",
    "torch/share/cmake",
    "torch/bin/*Test",
    "torch/bin/protoc*",
    "torch/bin/test_*",
    "torch/_inductor",
    "pandas/tests",
    "numpy/_core/tests",
)
# torch's requirements for torch.compile/export and symbolic shapes only (~105 MB); serving an
# LSTM's forward pass never imports them (the container test checks the forecasts).
UNUSED_PACKAGES = ("sympy", "mpmath", "networkx")
# The base's documentation and translations, removed before it is imported.
ROOTFS_PRUNED = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
LABEL_PREFIX = "io.forecasting"
BASE_CONTAINERFILE = f"""\
FROM {{imported}}
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    UV_NATIVE_TLS=1 UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1
RUN python3 -m venv /opt/uvenv && /opt/uvenv/bin/pip install --no-cache-dir uv=={UV_VERSION} \\
    && /opt/uvenv/bin/pip uninstall --yes pip setuptools \\
    && ln -s /opt/uvenv/bin/uv /usr/local/bin/uv && rm -rf /root/.cache
"""


class ContainerError(RuntimeError):
    """A build step failed; the message says what to install, run or change."""


def _run(argv: Sequence[str], what: str, **kwargs: Any) -> str:
    """Run ``argv``; its stdout, or a ContainerError with the tail of its output."""
    logger.debug("running %s", shlex.join(argv))
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ContainerError(f"{what} failed (exit {done.returncode}): {tail}")
    return str(done.stdout)


def find_builder(preferred: str | None = None) -> str | None:
    """The first OCI builder that works here (``preferred`` first), or None.

    Docker counts only when its daemon answers; buildah and podman need no daemon.
    """
    for name in ([preferred] if preferred else []) + [b for b in BUILDERS if b != preferred]:
        if shutil.which(name) is None:
            continue
        if name == "docker":
            probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
            if probe.returncode != 0:
                continue
        return name
    return None


def _cli(builder: str) -> str:
    """The CLI that manages images in ``builder``'s store (buildah and podman share one)."""
    return "docker" if builder == "docker" else ("podman" if shutil.which("podman") else "buildah")


def image_exists(builder: str, image: str) -> bool:
    """Whether ``image`` is in ``builder``'s local store."""
    argv = [_cli(builder), "image", "inspect", image]
    if argv[0] == "buildah":
        argv = ["buildah", "inspect", "--type", "image", image]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def rootfs_image_tag() -> str:
    """``localhost/forecaster-rootfs:<hash>``: the debootstrapped system and the host's CAs."""
    digest = hashlib.sha256(f"{SUITE} {BASE_PACKAGES} {ROOTFS_PRUNED}".encode())
    for ca in sorted(HOST_CA_DIR.glob("*.crt")):
        digest.update(ca.read_bytes())
    return f"localhost/forecaster-rootfs:{SUITE}-{digest.hexdigest()[:12]}"


def base_image_tag() -> str:
    """``localhost/forecaster-base:<hash of the root filesystem's tag and the uv layer>``."""
    digest = hashlib.sha256(f"{rootfs_image_tag()} {BASE_CONTAINERFILE}".encode())
    return f"localhost/forecaster-base:{SUITE}-{digest.hexdigest()[:12]}"


def _debootstrap(rootfs: Path, mirror: str) -> None:
    """A minimal Debian root filesystem with python3 and the host's CAs trusted."""
    if shutil.which("debootstrap") is None:
        raise ContainerError("debootstrap is missing: apt-get install debootstrap (see .ci/run)")
    if os.geteuid() != 0:
        raise ContainerError("making the base image needs root (debootstrap, chroot)")
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(rootfs),
            mirror,
        ],
        "debootstrap",
    )
    extra = rootfs / HOST_CA_DIR.relative_to("/")
    for ca in HOST_CA_DIR.glob("*.crt"):
        shutil.copy2(ca, extra / ca.name)
    _run(["chroot", str(rootfs), "update-ca-certificates"], "update-ca-certificates")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    for pruned in ROOTFS_PRUNED:
        for entry in (rootfs / pruned).glob("*"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _import_rootfs(builder: str, rootfs: Path, mirror: str, tag: str) -> None:
    """Debootstrap ``rootfs`` and import it as image ``tag``."""
    _debootstrap(rootfs, mirror)
    cli = "docker" if builder == "docker" else "podman"
    if shutil.which(cli) is None:
        raise ContainerError("importing the base needs podman (or docker): apt-get install podman")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    _run(
        [cli, "import", "--change", 'CMD ["/bin/bash"]', "-", tag],
        "importing the base root filesystem",
        stdin=tar.stdout,
    )
    tar.wait()


def ensure_base_image(builder: str, mirror: str = "http://deb.debian.org/debian") -> str:
    """The base image's tag, made (debootstrap, import, uv) only when it is not there yet."""
    tag = base_image_tag()
    if image_exists(builder, tag):
        logger.info("base image %s is cached", tag)
        return tag
    started = time.monotonic()
    imported = rootfs_image_tag()
    with tempfile.TemporaryDirectory(prefix="forecaster-base-") as scratch:
        if not image_exists(builder, imported):
            _import_rootfs(builder, Path(scratch) / "rootfs", mirror, imported)
        context = Path(scratch) / "context"
        context.mkdir()
        (context / "Containerfile").write_text(BASE_CONTAINERFILE.format(imported=imported))
        _build(builder, context, tag, labels={}, squash=False)
    logger.info("made base image %s in %.0f s", tag, time.monotonic() - started)
    return tag


def torch_cpu_wheel(version: str, destination: Path) -> Path:
    """Torch ``version``'s CPU wheel, where pip finds it (local find-links, or ``$TORCH_INDEX``).

    Raises:
        ContainerError: if pip finds none, or the one it finds is not a CPU build.

    """
    destination.mkdir(parents=True, exist_ok=True)
    found = sorted(destination.glob(f"torch-{version}*.whl"))
    if not found:
        extra = shlex.split(os.environ.get("TORCH_INDEX", ""))
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"torch=={version}",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(destination),
                *extra,
            ],
            "finding torch's CPU wheel (set TORCH_INDEX='--index-url "
            "https://download.pytorch.org/whl/cpu' where no local wheel exists)",
        )
        found = sorted(destination.glob(f"torch-{version}*.whl"))
    wheel = found[0] if found else None
    if wheel is None or "+cpu" not in wheel.name:
        raise ContainerError(
            f"pip found {wheel.name if wheel else 'no wheel'} for torch=={version}, not a +cpu "
            "build: set TORCH_INDEX='--index-url https://download.pytorch.org/whl/cpu'"
        )
    return wheel


def _requirements_for_image(requirements: str, find_links: str) -> str:
    """The bento's requirements with remote indexes swapped for the local wheels."""
    kept = [line for line in requirements.splitlines() if not line.startswith("--extra-index-url")]
    return "\n".join([f"--find-links {find_links}", *kept]) + "\n"


def build_context(
    bento_tag: str,
    base_image: str,
    wheels: Sequence[Path],
    into: Path,
    mounted: bool,
    weights_sha256: str,
) -> tuple[Path, str]:
    """Lay out bento ``bento_tag`` as a build context for ``base_image``.

    Returns its Containerfile and the bento's content hash the image checks at start.

    The Dockerfile is BentoML's own (v2 template) with the default ``apt-get install
    build-essential git`` left out and the pruning of ``PRUNED`` done in the same build.
    ``wheels`` are copied into the context unless ``mounted`` (at ``MOUNTED_WHEELS``). The
    entry point is ``forecasting.serving.entrypoint``, which checks the bento's content and the
    packed weights (``weights_sha256``, the manifest's) at every start.

    Raises:
        ContainerError: if the packed model's weights are not ``weights_sha256``.

    """
    import attrs
    import bentoml
    from _bentoml_impl.docker import generate_dockerfile
    from _bentoml_sdk.models import BentoModel
    from bentoml._internal.bento.bento import BentoInfoV2
    from bentoml._internal.container import split_envs_by_stage

    bento = bentoml.get(bento_tag)
    info = bento.info
    if not isinstance(info, BentoInfoV2):
        raise ContainerError(f"bento {bento_tag} is not a v2 bento: rebuild it with `make run`")
    shutil.copytree(bento.path, into, dirs_exist_ok=True)
    for model in info.all_models:
        BentoModel.from_info(model).resolve(into / "models")
    packed = [file_sha256(path) for path in packed_weights(into)]
    if packed != [weights_sha256]:
        raise ContainerError(
            f"bento {bento_tag} packs weights {packed or 'none'}, but the package manifest "
            f"records {weights_sha256}: rebuild it with `dvc repro --force --single-item package`"
        )
    (into / WHEELS_DIR).mkdir(parents=True, exist_ok=True)
    for wheel in [] if mounted else wheels:
        shutil.copy2(wheel, into / WHEELS_DIR / wheel.name)
    requirements = into / "env" / "python" / "requirements.txt"
    find_links = MOUNTED_WHEELS if mounted else f"{BENTO_PATH}/{WHEELS_DIR}"
    requirements.write_text(_requirements_for_image(requirements.read_text(), find_links))
    image = attrs.evolve(
        info.image,
        base_image=base_image,
        commands=[],  # BentoML's default: apt-get install build-essential git
        post_commands=[
            f"rm -rf {' '.join(f'{SITE_PACKAGES}/{p}' for p in PRUNED)}"
            f" && uv pip uninstall {' '.join(UNUSED_PACKAGES)}"
        ],
    )
    runtime_envs, _ = split_envs_by_stage(info.envs)
    dockerfile = generate_dockerfile(
        image, into, enable_buildkit=False, add_header=True, envs=runtime_envs
    )
    path = into / "env" / "docker" / "Dockerfile"
    path.write_text(dockerfile)
    expected = write_expected(into, weights_sha256, bento_tag)
    return path, expected["code_sha256"]


def _build(
    builder: str,
    context: Path,
    tag: str,
    labels: dict[str, str],
    squash: bool = True,
    wheels: Path | None = None,
) -> None:
    """Build ``context`` (its Containerfile or env/docker/Dockerfile) as ``tag``.

    ``wheels``, a directory, is mounted read-only at ``MOUNTED_WHEELS`` during the build.
    """
    containerfile = context / "Containerfile"
    if not containerfile.is_file():
        containerfile = context / "env" / "docker" / "Dockerfile"
    argv = [
        builder,
        "bud" if builder == "buildah" else "build",
        "-f",
        str(containerfile),
        "-t",
        tag,
    ]
    if builder != "docker":
        # chroot isolation and the host network: this machine's hybrid cgroups break crun, and
        # name resolution only works in the host's network namespace.
        argv += ["--isolation", "chroot", "--network", "host", "--layers=false"]
        argv += ["--squash"] if squash else []
        argv += ["--volume", f"{wheels}:{MOUNTED_WHEELS}:ro"] if wheels else []
    else:
        argv += ["--network", "host"]
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # BuildKit's `# syntax=` needs a registry
    _run([*argv, str(context)], f"{builder} build of {tag}", env=env)


@dataclass(frozen=True)
class ImageInfo:
    """What was built: enough to run it and to check it against the package manifest."""

    image: str
    image_id: str
    digest: str
    size_bytes: int
    labels: dict[str, str]


def inspect_image(builder: str, image: str) -> ImageInfo:
    """The id, digest, size and labels of ``image`` in ``builder``'s store."""
    import json

    cli = _cli(builder)
    argv = [cli, "image", "inspect", image] if cli != "buildah" else [cli, "inspect", image]
    found = json.loads(_run(argv, f"inspecting {image}"))
    record = found[0] if isinstance(found, list) else found
    digest = str(record.get("Digest") or record.get("FromImageDigest") or "")
    if not digest and record.get("RepoDigests"):
        digest = str(record["RepoDigests"][0]).split("@")[-1]
    labels = record.get("Labels") or record.get("Config", {}).get("Labels") or {}
    return ImageInfo(
        image=image,
        image_id="sha256:" + str(record.get("Id", record.get("FromImageID", ""))).split(":")[-1],
        digest=digest,
        size_bytes=int(record.get("Size", 0)),
        labels={str(k): str(v) for k, v in labels.items()},
    )


def lineage_labels(bento_tag: str) -> dict[str, str]:
    """OCI labels of the image of ``bento_tag``: the lineage its packed model recorded."""
    import bentoml

    info = bentoml.get(bento_tag).info
    models = [m.tag for service in info.services for m in service.models] + [
        m.tag for m in info.models
    ]
    metadata = dict(bentoml.models.get(models[0]).info.metadata) if models else {}
    commit, version = str(metadata.get("git_commit", "")), str(metadata.get("model_version", ""))
    return {
        "org.opencontainers.image.title": "forecaster",
        "org.opencontainers.image.version": f"v{version}",
        "org.opencontainers.image.revision": commit,
        f"{LABEL_PREFIX}.model.name": str(metadata.get("model_name", "")),
        f"{LABEL_PREFIX}.model.version": version,
        f"{LABEL_PREFIX}.model.weights_sha256": str(metadata.get("weights_sha256", "")),
        f"{LABEL_PREFIX}.git.commit": commit,
        f"{LABEL_PREFIX}.data.sha256": str(metadata.get("data_sha256", "")),
        f"{LABEL_PREFIX}.bento.tag": bento_tag,
    }


def build_image(
    bento_tag: str, image: str, builder: str, wheel_cache: Path, weights_sha256: str
) -> tuple[ImageInfo, dict[str, Any]]:
    """Build bento ``bento_tag``'s image as ``image``; returns it and the build's figures.

    ``weights_sha256`` is the package manifest's: the image refuses to start with other weights.
    """
    import torch

    started = time.monotonic()
    base = ensure_base_image(builder)
    base_s = time.monotonic() - started
    wheel = torch_cpu_wheel(torch.__version__.split("+")[0], wheel_cache)
    labels = lineage_labels(bento_tag)
    mounted = builder != "docker"
    with tempfile.TemporaryDirectory(prefix="forecaster-image-") as scratch:
        context, wheels = Path(scratch) / "context", Path(scratch) / "wheels"
        wheels.mkdir()
        shutil.copy2(wheel, wheels / wheel.name)  # only this wheel, whatever else is cached
        _, code = build_context(bento_tag, base, [wheel], context, mounted, weights_sha256)
        labels[f"{LABEL_PREFIX}.bento.code_sha256"] = code
        _build(builder, context, image, labels, wheels=wheels if mounted else None)
    built = inspect_image(builder, image)
    figures = {
        "builder": builder,
        "base_image": base,
        "torch_wheel": wheel.name,
        "base_seconds": round(base_s, 1),
        "build_seconds": round(time.monotonic() - started - base_s, 1),
    }
    logger.info(
        "built %s (%s, %.0f MB) in %.0f s",
        image,
        built.digest or built.image_id,
        built.size_bytes / 1e6,
        figures["build_seconds"],
    )
    return built, figures


def save_archive(builder: str, image: str, destination: Path) -> Path:
    """Write ``image`` as an OCI archive (what a publishing job pushes with skopeo)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.unlink(missing_ok=True)
    cli = _cli(builder)
    if cli == "docker":
        _run(["docker", "save", "-o", str(destination), image], f"saving {image}")
    elif cli == "podman":
        argv = ["podman", "save", "--format", "oci-archive", "-o", str(destination), image]
        _run(argv, f"saving {image}")
    else:
        _run(["buildah", "push", image, f"oci-archive:{destination}"], f"saving {image}")
    return destination


def report(built: ImageInfo, figures: dict[str, Any], bento_tag: str) -> dict[str, Any]:
    """``reports/package/container.json``: the image, its digest, size and labels."""
    return {
        "image": built.image,
        "image_id": built.image_id,
        "digest": built.digest,
        "size_bytes": built.size_bytes,
        "size_mb": round(built.size_bytes / 1e6, 1),
        "bento_tag": bento_tag,
        "labels": built.labels,
        **figures,
    }


@dataclass(frozen=True)
class LineageFact:
    """One link of ``make lineage``: a recorded value and whether it agrees (None: unchecked)."""

    name: str
    value: str
    ok: bool | None = None
    note: str = ""


def image_lineage(container: dict[str, Any], manifest: dict[str, Any]) -> list[LineageFact]:
    """The container links of the lineage: the image's digest, and its labels vs the manifest.

    ``container`` is ``reports/package/container.json`` (empty when no image was built),
    ``manifest`` the package manifest. Where a builder is present, the digest recorded is
    checked against the image in the local store.
    """
    if not container:
        return [LineageFact("container image", "not built", None, "run `make container`")]
    labels = container.get("labels", {})
    label_tag = labels.get(f"{LABEL_PREFIX}.bento.tag")
    summary = f"bento {label_tag}, model v{labels.get(f'{LABEL_PREFIX}.model.version')}"
    if label_tag != manifest.get("bento_tag"):
        # An image of an earlier package (before a retrain or rollback): stale, not broken.
        note = f"built from another package than {manifest.get('bento_tag')}: run make container"
        return [LineageFact("container image", summary, None, note)]
    expected = {
        f"{LABEL_PREFIX}.model.version": str(manifest.get("model_version")),
        f"{LABEL_PREFIX}.model.weights_sha256": manifest.get("weights_sha256"),
    }
    wrong = [key.split(".", 2)[-1] for key, value in expected.items() if labels.get(key) != value]
    note = f"labels disagree with the package manifest: {', '.join(wrong)}" if wrong else ""
    facts = [LineageFact("container labels", summary, not wrong, note)]
    recorded = str(container.get("digest") or container.get("image_id"))
    builder = find_builder(container.get("builder"))
    if builder is None or not image_exists(builder, str(container.get("image"))):
        facts.append(LineageFact(f"image {container.get('image')}", recorded, None, "not here"))
        return facts
    actual = inspect_image(builder, str(container["image"]))
    now = actual.digest or actual.image_id
    facts.append(
        LineageFact(
            f"image {container.get('image')}",
            recorded,
            now == recorded,
            "" if now == recorded else f"the local image is now {now}",
        )
    )
    return facts
