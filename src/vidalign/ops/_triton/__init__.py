"""GPU fast paths (Triton) of the dynamic programs and of the fused-GW iteration (issue 5).

Modules: :mod:`.soft_smith_waterman`, :mod:`.soft_dtw` (one program per pair, the anti-diagonal loop inside the
kernel, DP tables in a packed anti-diagonal layout, explicit backward kernel), :mod:`.fgw` (the mirror-descent step
and the Sinkhorn sweep fused into two kernels per iteration). They are imported lazily, on first use: importing
Triton costs time, and a kernel is compiled or interpreted according to ``TRITON_INTERPRET`` *when its module is
imported* (Triton reads the variable when ``@triton.jit`` runs).

Availability: the kernels are **opt-in** with ``backend="triton"`` until they have been verified on a GPU (issue 5:
they are tested here only under Triton's CPU interpreter, ``TRITON_INTERPRET=1``, numpy semantics, and compiled to
PTX). ``backend="auto"`` keeps CUDA tensors on the torch reference path unless ``VIDALIGN_TRITON=1`` is set; the
rule and its checks are :func:`vidalign.ops.backends.select_backend`.
"""
