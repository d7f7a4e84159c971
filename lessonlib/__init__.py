"""lessonlib: the code behind the executable book of fast.ai part 2, lesson 12.

One module per idea, each taught by one chapter of the book:

- :mod:`lessonlib.hardware` -- which machine runs the code (the label on every timing);
- :mod:`lessonlib.timing` -- honest timings and the speed-up tables built from them;
- :mod:`lessonlib.anim` -- matplotlib animations as offline-safe HTML for the book;
- :mod:`lessonlib.book` -- the set-up cell every chapter starts with (CUDA target, seeds, plots).

Submodules are not imported here, so that importing :mod:`lessonlib` stays cheap
and :func:`lessonlib.hardware.use_cuda_simulator` can still run before
``numba.cuda`` is imported.
"""

__version__ = "0.1.0"
