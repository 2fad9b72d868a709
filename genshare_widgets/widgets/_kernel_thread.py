"""Widgets are created and attached on the kernel's thread; background threads only compute.

A widget created in a background thread while the page is loading its widgets' state (Voilà
and JupyterLab ask the kernel for every widget's state when they connect) can reach the page
before the model it refers to: the page then shows "Error: widget model not found" instead of
the explorer (seen in CI: the explorer's widgets were built in ``genshare app``'s opening
thread while the page connected). The kernel answers the page's requests on its main thread,
so work handed to that thread's event loop never interleaves with them.

:func:`on_kernel_thread` runs a function there: at once when called on that thread or outside
a kernel (plain Python, tests), otherwise at the loop's next turn (it does not wait).
"""

import threading
from collections.abc import Callable
from typing import Any


def kernel_loop():
    """The running IPython kernel's event loop (a tornado ``IOLoop``), or None outside one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return getattr(kernel, "io_loop", None)


def on_kernel_thread(fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` on the kernel's main thread (see the module docstring)."""
    loop = kernel_loop()
    if loop is None or threading.current_thread() is threading.main_thread():
        fn(*args)
        return
    loop.add_callback(fn, *args)
