"""The documentation site's executable parts (mkdocs.yml, `make docs`).

* The notebook docs/notebooks/deals-by-stage.ipynb is executed (as a reader would run
  it, in a fresh kernel, in an empty folder): it must start its own emulator, pull the
  deals, and save a real chart whose numbers are the portal's.
(The pages' code blocks are run by tests/test_docblocks.py; this file covers what that
harness does not: the notebook.)
"""
from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "notebooks" / "deals-by-stage.ipynb"

def _emulator_deal_counts(seed_demo: int) -> dict[str, int]:
    """Deals per STAGE_ID on a fresh emulator seeded like the notebook's, read back
    with a plain HTTPS client (urllib), not with b24hook."""
    import ssl
    import urllib.request

    from b24hook.emulator import EmulatorPortal

    counts: collections.Counter[str] = collections.Counter()
    with EmulatorPortal(seed_demo=seed_demo) as portal:
        ctx = ssl.create_default_context(cafile=portal.ca_path)
        start: int | None = 0
        while start is not None:
            body = json.dumps({"select": ["ID", "STAGE_ID"], "start": start}).encode()
            req = urllib.request.Request(f"{portal.v2_url}/crm.deal.list", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, context=ctx) as answer:
                page = json.load(answer)
            counts.update(row["STAGE_ID"] for row in page["result"])
            start = page.get("next")
    return dict(counts)


def test_notebook_pulls_the_deals_and_plots_them_by_stage(tmp_path: Path) -> None:
    import matplotlib.image as mpimg
    import nbclient
    import nbformat

    work = tmp_path / "reader"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook without outputs: the docs build executes it"
    # After the notebook's own cells, one more reports what it computed.
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json\n"
        "print(json.dumps({'by_stage': by_stage['deals'].astype(int).to_dict(),\n"
        "                  'rows': len(deals), 'ids': int(deals['ID'].nunique()),\n"
        "                  'closed': b24.closed}))"))
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()

    # The chart is displayed inline (the docs page shows it) and saved as a PNG.
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if "image/png" in o.get("data", {})]
    assert len(shown) == 1
    png = work / "deals_by_stage.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(png)
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 700
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::97]}) > 10  # not blank

    report = json.loads(nb.cells[-1].outputs[0]["text"])
    expected = _emulator_deal_counts(seed_demo=2000)
    assert report["by_stage"] == expected
    assert report["rows"] == report["ids"] == sum(expected.values()) == 400
    assert report["closed"] is True
