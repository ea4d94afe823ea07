"""Runs a QNN-delegated .pte (targets qnn-fp16/qnn-int8) through executorch.runtime with the QNN libraries.

The QNN libraries must be on LD_LIBRARY_PATH when the process starts and a broken SDK aborts the
process, so the program lives in a child process (edge_export.runtimes.qnn.QnnPteSession), started once per
runner and fed every call: the ~5-15 s start-up is paid once, not per image. On an x86 host the
executions run on QNN's HTP *simulator*: outputs are meaningful, times are not device latency
(`simulator` is True; profiles must label them so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_export.artifacts import Manifest, program_path
from edge_export.runtimes.base import Runner, from_program_output


def qnn_sdk_for_artifact(manifest: Manifest, qnn_sdk: str | Path | None = None):
    """The SDK to run an artifact with: `qnn_sdk` > the path given at export (if it still exists) >
    $QNN_SDK_ROOT > the provisioned host SDK. One-line QnnSdkError when there is none."""
    from edge_export.runtimes.qnn import find_qnn_sdk

    if qnn_sdk is None:
        recorded = manifest.target_options.get("qnn_sdk")
        if recorded and Path(recorded).exists():
            qnn_sdk = recorded
    return find_qnn_sdk(qnn_sdk)


class QnnRunner(Runner):
    runtime = "executorch-qnn"
    simulator = True  # x86 host: QNN's HTP simulator

    def __init__(
        self,
        artifact_dir: Path,
        manifest: Manifest,
        threads: int,
        enable_etdump: bool = False,
        debug_buffer_size: int = 0,
        qnn_sdk: str | Path | None = None,
        timeout: float | None = 900,
    ):
        from edge_export.runtimes.qnn import QnnPteSession

        super().__init__(artifact_dir, manifest, threads)
        self.path = program_path(artifact_dir, manifest)
        self.sdk = qnn_sdk_for_artifact(manifest, qnn_sdk)
        self.session = QnnPteSession(
            self.path, sdk=self.sdk, enable_etdump=enable_etdump, debug_buffer_size=debug_buffer_size, timeout=timeout
        )
        self.load_seconds = self.session.load_seconds
        self.last_seconds: list[float] = []  # simulator seconds per execute() of the last call

    def run_raw(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.run_raw_many([inputs])[0]

    def run_raw_many(self, batches: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """Several invocations in one round trip to the child."""
        outputs, self.last_seconds = self.session.run(batches)
        return outputs

    def logits_many(self, x_nchw: np.ndarray) -> np.ndarray:
        """[N, C, H, W] -> [N, classes] in one round trip, in chunks of the program's batch size."""
        x = np.asarray(x_nchw, dtype=np.float32)
        b = max(1, int(self.manifest.inputs[0].shape[0]))
        if len(x) % b:
            raise ValueError(f"{len(x)} images do not split into the program's batch of {b}")
        chunks = [[self.prepare_input(x[i : i + b])] for i in range(0, len(x), b)]
        outs = self.run_raw_many(chunks)
        return np.concatenate([from_program_output(o[0], self.manifest.outputs[0]) for o in outs])

    def write_etdump(self, path: Path) -> Path:
        """ETDump of every execution so far (open the runner with enable_etdump=True). QNN per-op events
        need an artifact exported with profile_level=2 (detailed) or 3."""
        return self.session.write_etdump(path)

    def close(self) -> None:
        self.session.close()
