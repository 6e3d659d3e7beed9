"""Execute notebooks headless (nbclient), failing on the first cell error. Outputs are not
saved: the committed notebooks stay stripped. Used by the test suite; also by hand:

    python notebooks/run_notebooks.py notebooks/*.ipynb
"""
import pathlib
import sys

import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    p = pathlib.Path(path).resolve()
    nb = nbformat.read(p, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(p.parent)}}).execute()
    print("ok", p.name, flush=True)
