"""lessonlib: the code behind the executable book of fast.ai part 2, lesson 12.

One module per idea, each taught by one chapter of the book:

- :mod:`lessonlib.inverse` -- a tiny CLIP, inversion by optimisation, an interrogator (CLIP and inverse problems);
- :mod:`lessonlib.matmul` -- the matrix-product ladder and einsum (Einstein summation);
- :mod:`lessonlib.kernels` -- pure-Python and Numba CUDA kernels (GPU kernels);
- :mod:`lessonlib.ptx` -- what NVVM and ptxas say about those kernels for the real GPU target (same chapter);
- :mod:`lessonlib.meanshift` -- mean shift, from a loop to a grid (Mean shift);
- :mod:`lessonlib.cluster` -- k-means and DBSCAN as tensor code (Homework: k-means, DBSCAN and LSH);
- :mod:`lessonlib.lsh` -- locality-sensitive hashing for near neighbours (same chapter);
- :mod:`lessonlib.calculus` -- finite differences and dual numbers (Calculus with infinitesimals);
- :mod:`lessonlib.data` -- MNIST or a stand-in with its shapes, and the shapes-with-captions data set.

And the machinery every chapter uses:

- :mod:`lessonlib.hardware` -- which machine runs the code (the label on every timing);
- :mod:`lessonlib.timing` -- honest timings and the speed-up tables built from them;
- :mod:`lessonlib.anim` -- matplotlib animations as offline-safe HTML for the book;
- :mod:`lessonlib.book` -- the set-up cell every chapter starts with, and captioned tables;
- :mod:`lessonlib.bench` -- the benchmarks behind the tables, one module per job (``python -m lessonlib.bench``),
  and the GPU reference file's format (:mod:`lessonlib.bench.reference`).

Every public function checks its arguments first: ``TypeError`` for the wrong
kind of object, ``ValueError`` for a wrong value or shape, each naming the
argument. Raw CUDA kernels check nothing, as CUDA kernels do. The core install
(torch, numpy, numba, matplotlib, pandas) imports every module; a function that
needs an extra (``bench``, ``book``, ``ptx``, ``gpu``) names it when it is missing.

Submodules are not imported here, so ``import lessonlib`` stays cheap. The
modules sit in layers, each importing only its own or lower ones
(``tests/test_layers.py``): ``_checks``, ``_deps``, ``hardware``; the lesson's
modules; the tools ``timing``, ``ptx``, ``book``; ``bench`` on top.
"""

__version__ = "0.1.0"
