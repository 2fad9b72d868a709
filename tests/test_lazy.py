"""The deferred dask checks of :mod:`genshare_widgets._lazy`: xarray builds a numpy Dataset
without importing dask, and still sees Dask arrays once dask is in use."""

import subprocess
import sys


def test_numpy_dataset_imports_no_dask_then_dask_arrays_are_still_chunked():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import xarray as xr\n"
        "from genshare_widgets._lazy import defer_dask_array_import\n"
        "defer_dask_array_import()\n"
        "ds = xr.Dataset({'a': (('x',), np.arange(4))}, coords={'x': list('abcd')})\n"
        "assert int(ds['a'].sum()) == 6\n"
        "print('dask' in sys.modules, 'dask.array' in sys.modules)\n"
        "import dask.array as da\n"
        "lazy = xr.Dataset({'b': (('x',), da.arange(4, chunks=2))})\n"
        "print(lazy['b'].chunks, type(lazy['b'].data).__module__.split('.')[0])\n"
        "print(int(lazy['b'].sum().compute()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "False False"  # nothing of dask loaded for a numpy Dataset
    assert lines[1] == "((2, 2),) dask"  # a Dask-backed Dataset stays lazy and chunked
    assert lines[2] == "6"
