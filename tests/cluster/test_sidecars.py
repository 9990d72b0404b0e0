"""A cluster run writes the same files and sidecars as a single-machine run of the same channel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_cluster_e2e import CHANNEL_DIR, Cluster, cluster  # noqa: F401 - the fixture is used by name

from tgfetch.download.layout import SIDECAR_SUFFIX


def _sidecars(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob(f"*{SIDECAR_SUFFIX}")) if ".tgfetch" not in p.parts[-2]}


def _media(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(SIDECAR_SUFFIX) and not p.name.startswith(".tgfetch")}


def test_every_media_file_has_the_sidecar_a_single_machine_run_writes(cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    c = cluster
    reposts = [m for m in c.channel.sim.media_messages() if m.doc_id is not None]
    docs = [m.doc_id for m in reposts]
    assert len(docs) > len(set(docs)), "the channel must repost a document for this test to mean anything"
    coordinator = c.coordinator(expect=1)
    worker = c.worker("m1", bandwidth=20.0)
    c.finish([coordinator, worker])

    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "tgfetch", "download", *c.channel.flags(), "--quiet",
                    "--dest", str(single)], check=True, cwd=tmp_path, capture_output=True, timeout=120)

    one, many = single / CHANNEL_DIR, c.dest("m1") / CHANNEL_DIR
    assert _media(many) == _media(one)
    assert _sidecars(many) == _sidecars(one)
    assert len(_sidecars(one)) > 0
