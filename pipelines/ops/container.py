"""container: build the packaged Bento's OCI image without Docker (``make container``).

Reads reports/package/manifest.json, imports the exported bento if the store lacks it, builds
the image with buildah or podman (Docker where its daemon runs) from a base image made offline
and cached, and writes reports/package/container.json: the image, its digest, size and labels.
Not a DVC stage. ``CONTAINER_IMAGE`` names the image (``:v<model version>`` is added),
``CONTAINER_BUILDER`` picks a builder, ``CONTAINER_ARCHIVE`` also saves an OCI archive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from forecasting.core.files import write_json
from forecasting.serving.bento import packed_model_tag
from forecasting.serving.container import (
    ContainerError,
    build_image,
    find_builder,
    report,
    save_archive,
)
from forecasting.serving.verification import ensure_verified_bento, verify_packed_model
from pipelines._stage import StageError, exit_with, run_stage
from pipelines.params import Params

DEFAULT_IMAGE = "localhost/forecaster"  # the Makefile's IMAGE
# torch's CPU wheel is looked up once and kept here, outside the repository.
WHEEL_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "forecasting" / "wheels"
)


def container(params: Params) -> None:
    manifest_path = params.paths.reports / "package" / "manifest.json"
    if not manifest_path.is_file():
        raise StageError(f"no packaged bento ({manifest_path} is missing): run 'make run' first")
    manifest = json.loads(manifest_path.read_text())
    builder = find_builder(os.environ.get("CONTAINER_BUILDER") or None)
    if builder is None:
        raise StageError(
            "no image builder here: install buildah or podman (apt-get install buildah podman "
            "runc debootstrap), or start a Docker daemon"
        )
    # the image is built only from the archive the manifest names, its sha256 checked
    ensure_verified_bento(manifest, Path(manifest["bento_archive"]))
    weights = str(manifest["weights_sha256"])
    verify_packed_model(packed_model_tag(manifest["bento_tag"]), {"the package manifest": weights})
    image = f"{os.environ.get('CONTAINER_IMAGE') or DEFAULT_IMAGE}:v{manifest['model_version']}"
    archive = os.environ.get("CONTAINER_ARCHIVE", "")
    try:
        built, figures = build_image(manifest["bento_tag"], image, builder, WHEEL_CACHE, weights)
        if archive:
            figures["archive"] = str(save_archive(builder, image, Path(archive)))
    except ContainerError as err:
        raise StageError(str(err)) from err
    write_json(
        params.paths.reports / "package" / "container.json",
        report(built, figures, manifest["bento_tag"]),
    )
    print(
        f"built {image} ({built.digest or built.image_id}, {built.size_bytes / 1e6:.0f} MB) with "
        f"{builder} in {figures['build_seconds']:.0f} s; run it with\n"
        f"  podman run --rm --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 "
        f"--network host -e PORT=3000 {image}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("container", container, argv)


if __name__ == "__main__":
    exit_with(main())
