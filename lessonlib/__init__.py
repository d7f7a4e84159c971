"""lessonlib: the code behind the executable book of fast.ai part 2, lesson 12.

One module per idea, each taught by one chapter: :mod:`~lessonlib.inverse` (a tiny CLIP, inversion, an interrogator),
:mod:`~lessonlib.matmul` (the matrix-product ladder and einsum), :mod:`~lessonlib.kernels` and :mod:`~lessonlib.ptx`
(CUDA kernels, and what the compiler says of them), :mod:`~lessonlib.meanshift`, :mod:`~lessonlib.cluster` (k-means,
DBSCAN), :mod:`~lessonlib.lsh`, :mod:`~lessonlib.calculus`, :mod:`~lessonlib.data`. And the machinery:
:mod:`~lessonlib.hardware` (the machine, the CUDA target), :mod:`~lessonlib.timing` (honest timings),
:mod:`~lessonlib.anim`, :mod:`~lessonlib.book` (the set-up cell, captioned tables), :mod:`~lessonlib.lecture` (the
lecture's own figures) and :mod:`~lessonlib.bench` (every timing table, ``python -m lessonlib.bench``, and the GPU
reference file).

Every public function checks its arguments first (``TypeError`` for the wrong kind of object, ``ValueError`` for a
wrong value or shape, each naming the argument); raw CUDA kernels check nothing. The core install (torch, numpy,
numba, matplotlib, pandas) imports every module; a function that needs an extra names it. Submodules are not imported
here. The modules sit in layers (``tests/test_layers.py``): ``_checks``, ``_deps``, ``hardware``, ``lecture``; the
lesson's modules; ``timing``, ``ptx``, ``book``; ``bench`` on top.
"""

__version__ = "0.1.0"
