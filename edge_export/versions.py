"""Installed package versions, for provenance (manifests, profiles, benchmark results)."""

from __future__ import annotations

from importlib import metadata

# What an artifact's numbers depend on: recorded in every manifest.
RECORDED_PACKAGES = ("edge-export", "torch", "executorch", "torchao", "litert-torch", "ai-edge-litert", "transformers",
                     "numpy")


def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names=RECORDED_PACKAGES) -> dict[str, str]:
    return {n: v for n in names if (v := package_version(n)) is not None}
