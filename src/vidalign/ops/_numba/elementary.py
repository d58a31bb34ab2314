"""Vectorisable ``exp``/``log`` and the smoothed maxima of the soft DP recursions, for numba kernels.

numba lowers ``math.exp``/``math.log`` to libm calls, which LLVM cannot vectorise without a vector math library
(SVML is rarely installed), so a loop calling them runs one lane at a time. The two functions below are emitted
as straight-line LLVM IR (numba ``@intrinsic``: no call, no numba-level inlining, which would cost seconds of
compile time per use) made of arithmetic, comparisons, selects and bit casts, so the anti-diagonal loops of the DP
kernels compile to AVX2 code (8 float32 or 4 float64 lanes).

* ``exp_nonpositive(x)`` for ``x <= 0`` (every exponent of a max-shifted log-sum-exp; ``x`` is clamped to
  ``<= 0``): Cody-Waite reduction ``x = n ln2 + r``, ``|r| <= ln2 / 2``, Taylor polynomial of ``exp(r)``
  (degree 7 in float32, 13 in float64: truncation below half an ulp) and ``2^n`` assembled in the exponent bits.
  Arguments below the normal range, ``-inf`` and NaN give exactly 0, so sentinels contribute nothing.
* ``log_positive(x)`` for positive normal ``x``: ``x = 2^e m``, ``m`` folded into ``[sqrt(1/2), sqrt(2))``, and
  ``log m = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...)`` with ``t = (m - 1)/(m + 1)``, ``|t| <= 0.1716`` (series to
  ``t^9`` in float32, ``t^23`` in float64).

Both agree with numpy to about one ulp (tested). On them, ``smooth_max2/3/4`` build ``tau log sum exp(v / tau)``
(largest input factored out: k inputs cost k - 1 exps and one log) and ``softmax_weights2/3/4`` its gradient
(a tournament tree: k inputs cost k - 1 exps and one division).

Code-generation controls for the kernels (each a no-op where it does not apply):

* ``prefer_wide_vectors()`` marks the calling kernel ``"prefer-vector-width"="512"``. LLVM's tuning for the Intel
  server cores with AVX-512 keeps auto-vectorised loops at 256 bits; the exp/log-bound anti-diagonal loops run
  about 1.2-1.3x faster at 512 bits (measured on a Sapphire/Emerald Rapids core). Without AVX-512 the hint is
  ignored.
* ``out_of_line()`` marks the calling kernel ``noinline``: LLVM compiles it once, as called from Python, rather
  than re-optimising it inside each caller, where a constant argument lets it reassociate sums differently (the
  fused-GW sweeps: the dense and the batched entry points then give the same bits).
* ``flush_denormals()`` / ``restore_fp_mode(saved)`` set and restore the x86 FTZ/DAZ bits of the calling thread.
  The adjoints of soft-DP backward passes decay geometrically away from the likely alignments and reach the
  subnormal range (below 1.2e-38 in float32) on a few percent of the cells; every operation touching a
  subnormal takes a microcode assist, which made the soft Smith-Waterman backward 1.4x slower. Flushing changes
  only values below the smallest normal number.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@dataclass(frozen=True)
class _FloatFormat:
    """IEEE-754 layout and the constants of the approximations for one float width."""

    mantissa_bits: int
    exponent_bias: int
    exp_floor: float  # smallest argument whose exp is a normal number
    ln2_head: float  # ln 2 with trailing zero bits, so n * ln2_head is exact
    ln2_tail: float  # ln 2 - ln2_head
    exp_degree: int
    atanh_terms: int


_FORMATS = {
    32: _FloatFormat(23, 127, -87.0, 0.693359375, -2.1219444005469057e-4, 7, 5),
    64: _FloatFormat(52, 1023, -708.0, 0.6931467056274414, 4.7493250390316726e-07, 13, 12),
}


class _Emitter:
    """Small helper over ``llvmlite.ir.IRBuilder`` for one float type; products/sums may be fused (contract)."""

    def __init__(self, builder: ir.IRBuilder, width: int):
        self.b = builder
        self.fmt = _FORMATS[width]
        self.ftype = ir.FloatType() if width == 32 else ir.DoubleType()
        self.itype = ir.IntType(width)

    def const(self, value: float) -> ir.Constant:
        return ir.Constant(self.ftype, value)

    def _contract(self, instr):
        instr.flags.append("contract")
        return instr

    def add(self, x, y):
        return self._contract(self.b.fadd(x, y))

    def sub(self, x, y):
        return self._contract(self.b.fsub(x, y))

    def mul(self, x, y):
        return self._contract(self.b.fmul(x, y))

    def select_less(self, x, y, if_less, otherwise):
        return self.b.select(self.b.fcmp_ordered("<", x, y), if_less, otherwise)

    def floor(self, x):
        fn = self.b.module.declare_intrinsic("llvm.floor", [self.ftype])
        return self.b.call(fn, [x])

    def horner(self, x, coefficients):
        """``sum_k coefficients[k] x^k``."""
        acc = self.const(coefficients[-1])
        for c in reversed(coefficients[:-1]):
            acc = self.add(self.mul(acc, x), self.const(c))
        return acc


def _emit_exp_nonpositive(e: _Emitter, x):
    fmt = e.fmt
    zero = e.const(0.0)
    inside = e.b.fcmp_ordered(">=", x, e.const(fmt.exp_floor))  # False for -inf and NaN
    x = e.select_less(x, zero, x, zero)
    x = e.b.select(inside, x, e.const(fmt.exp_floor))
    n = e.floor(e.add(e.mul(x, e.const(1.0 / math.log(2.0))), e.const(0.5)))
    r = e.sub(e.sub(x, e.mul(n, e.const(fmt.ln2_head))), e.mul(n, e.const(fmt.ln2_tail)))
    poly = e.horner(r, [1.0 / math.factorial(k) for k in range(fmt.exp_degree + 1)])
    biased = e.b.add(e.b.fptosi(n, e.itype), ir.Constant(e.itype, fmt.exponent_bias))
    scale = e.b.bitcast(e.b.shl(biased, ir.Constant(e.itype, fmt.mantissa_bits)), e.ftype)
    return e.b.select(inside, e.mul(poly, scale), zero)


def _emit_log_positive(e: _Emitter, x):
    fmt = e.fmt
    bits = e.b.bitcast(x, e.itype)
    mantissa_mask = (1 << fmt.mantissa_bits) - 1
    exponent = e.b.sub(
        e.b.and_(
            e.b.lshr(bits, ir.Constant(e.itype, fmt.mantissa_bits)), ir.Constant(e.itype, 2 * fmt.exponent_bias + 1)
        ),
        ir.Constant(e.itype, fmt.exponent_bias),
    )
    one_bits = ir.Constant(e.itype, fmt.exponent_bias << fmt.mantissa_bits)
    m = e.b.bitcast(e.b.or_(e.b.and_(bits, ir.Constant(e.itype, mantissa_mask)), one_bits), e.ftype)  # [1, 2)
    big = e.b.fcmp_ordered(">", m, e.const(math.sqrt(2.0)))
    m = e.b.select(big, e.mul(m, e.const(0.5)), m)
    exponent = e.add(e.b.sitofp(exponent, e.ftype), e.b.select(big, e.const(1.0), e.const(0.0)))
    t = e.b.fdiv(e.sub(m, e.const(1.0)), e.add(m, e.const(1.0)))
    series = e.horner(e.mul(t, t), [1.0 / (2 * k + 1) for k in range(fmt.atanh_terms)])
    log_m = e.mul(e.mul(e.const(2.0), t), series)
    return e.add(e.mul(exponent, e.const(fmt.ln2_head)), e.add(e.mul(exponent, e.const(fmt.ln2_tail)), log_m))


def _emit_smooth_max(e: _Emitter, *args):
    """``tau log sum exp(values / tau)`` for ``args = (*values, tau, inv_tau)``, with the largest value factored out
    (its exp is exactly 1): k values cost k - 1 exps and the log of a number in [1, k]. A branch-free min/max
    tournament finds the largest."""
    *pool, tau, inv_tau = args
    losers = []
    while len(pool) > 1:
        a, b = pool.pop(), pool.pop()
        less = e.b.fcmp_ordered("<", a, b)
        pool.insert(0, e.b.select(less, b, a))
        losers.append(e.b.select(less, a, b))
    top = pool[0]
    total = e.const(1.0)
    for value in losers:
        total = e.add(total, _emit_exp_nonpositive(e, e.mul(e.sub(value, top), inv_tau)))
    return e.add(top, e.mul(tau, _emit_log_positive(e, total)))


def _same_float_signature(args, emit):
    """Typing + codegen of an intrinsic whose arguments and result share one float type."""
    if args[0] not in (types.float32, types.float64) or any(a != args[0] for a in args):
        return None

    def codegen(context, builder, signature, llvm_args):
        return emit(_Emitter(builder, args[0].bitwidth), *llvm_args)

    return args[0](*args), codegen


@intrinsic
def exp_nonpositive(typingctx, x):
    """``exp(x)`` for ``x <= 0`` (0 below the normal range)."""
    return _same_float_signature((x,), _emit_exp_nonpositive)


@intrinsic
def log_positive(typingctx, x):
    """``log(x)`` for positive normal ``x``."""
    return _same_float_signature((x,), _emit_log_positive)


@intrinsic
def smooth_max2(typingctx, a, b, tau, inv_tau):
    """``tau log(exp(a / tau) + exp(b / tau))`` (``inv_tau = 1 / tau``)."""
    return _same_float_signature((a, b, tau, inv_tau), _emit_smooth_max)


@intrinsic
def smooth_max3(typingctx, a, b, c, tau, inv_tau):
    """``tau log sum exp`` of three values."""
    return _same_float_signature((a, b, c, tau, inv_tau), _emit_smooth_max)


@intrinsic
def smooth_max4(typingctx, a, b, c, d, tau, inv_tau):
    """``tau log sum exp`` of four values."""
    return _same_float_signature((a, b, c, d, tau, inv_tau), _emit_smooth_max)


def _emit_softmax_weights(e: _Emitter, *args):
    """Weights ``exp(v_k / tau) / sum_j exp(v_j / tau)`` of ``args = (*values, inv_tau)`` by a tournament tree:
    each match of two subtrees costs one exp, ``exp((loser - winner) / tau)``, which scales the loser's leaves;
    a leaf's weight relative to the overall maximum is the product of the factors on its path (k values: k - 1
    exps instead of k). Every exponent is a difference between two of the values themselves, so the weights stay
    accurate however large the values are."""
    *values, inv_tau = args
    one = e.const(1.0)
    nodes = [(value, [None]) for value in values]  # (subtree max, leaf weights relative to it; None = exactly 1)

    def match(left, right):
        less = e.b.fcmp_ordered("<", left[0], right[0])
        winner, loser = e.b.select(less, right[0], left[0]), e.b.select(less, left[0], right[0])
        factor = _emit_exp_nonpositive(e, e.mul(e.sub(loser, winner), inv_tau))
        scale_left, scale_right = e.b.select(less, factor, one), e.b.select(less, one, factor)
        leaves = [scale_left if w is None else e.mul(w, scale_left) for w in left[1]]
        leaves += [scale_right if w is None else e.mul(w, scale_right) for w in right[1]]
        return winner, leaves

    while len(nodes) > 1:
        paired = [match(nodes[k], nodes[k + 1]) for k in range(0, len(nodes) - 1, 2)]
        nodes = paired + nodes[len(paired) * 2 :]
    leaves = nodes[0][1]
    total = leaves[0]
    for leaf in leaves[1:]:
        total = e.add(total, leaf)
    inverse = e.b.fdiv(one, total)
    return [e.mul(leaf, inverse) for leaf in leaves]


def _weights_signature(args):
    """Typing + codegen of a softmax-weights intrinsic: float arguments of one type, a tuple of len(args) - 1."""
    if args[0] not in (types.float32, types.float64) or any(a != args[0] for a in args):
        return None
    result = types.UniTuple(args[0], len(args) - 1)

    def codegen(context, builder, signature, llvm_args):
        weights = _emit_softmax_weights(_Emitter(builder, args[0].bitwidth), *llvm_args)
        return context.make_tuple(builder, result, weights)

    return result(*args), codegen


@intrinsic
def softmax_weights2(typingctx, a, b, inv_tau):
    """Weights of ``a, b`` in ``smooth_max2(a, b)`` (its gradient)."""
    return _weights_signature((a, b, inv_tau))


@intrinsic
def softmax_weights3(typingctx, a, b, c, inv_tau):
    """Weights of ``a, b, c`` in ``smooth_max3``."""
    return _weights_signature((a, b, c, inv_tau))


@intrinsic
def softmax_weights4(typingctx, a, b, c, d, inv_tau):
    """Weights of ``a, b, c, d`` in ``smooth_max4``."""
    return _weights_signature((a, b, c, d, inv_tau))


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_FTZ_DAZ = 0x8040  # MXCSR bits: flush-to-zero (15), denormals-are-zero (6)


@intrinsic
def maximum(typingctx, a, b):
    """``max(a, b)`` as ``llvm.maxnum``: unlike numba's ``max`` (a compare-and-branch), LLVM vectorises a
    reduction over it (the kernels' maxima see no NaN)."""
    if a not in (types.float32, types.float64) or a != b:
        return None

    def codegen(context, builder, signature, args):
        ftype = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ftype], ir.FunctionType(ftype, [ftype, ftype]))
        return builder.call(fn, args)

    return a(a, b), codegen


@intrinsic
def prefer_wide_vectors(typingctx):
    """Mark the calling function ``"prefer-vector-width"="512"`` (module docstring)."""

    def codegen(context, builder, signature, args):
        # llvmlite validates named attributes only; a string attribute goes into the set as its IR text. The hint
        # only tunes speed: an llvmlite whose attribute set is not a set leaves the kernel without it.
        attributes = builder.function.attributes
        if isinstance(attributes, set):
            set.add(attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def out_of_line(typingctx):
    """Mark the calling function ``noinline`` (module docstring)."""

    def codegen(context, builder, signature, args):
        builder.function.attributes.add("noinline")
        return context.get_dummy_value()

    return types.none(), codegen


def _mxcsr_call(builder, name, slot):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    builder.call(builder.module.declare_intrinsic(name, fnty=fnty), [builder.bitcast(slot, ir.IntType(8).as_pointer())])


@intrinsic
def flush_denormals(typingctx):
    """Set FTZ/DAZ on the calling thread (x86); returns the previous MXCSR for :func:`restore_fp_mode`."""

    def codegen(context, builder, signature, args):
        if not _X86:
            return ir.Constant(ir.IntType(64), 0)
        slot = builder.alloca(ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        saved = builder.load(slot)
        builder.store(builder.or_(saved, ir.Constant(ir.IntType(32), _FTZ_DAZ)), slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return builder.zext(saved, ir.IntType(64))

    return types.int64(), codegen


@intrinsic
def restore_fp_mode(typingctx, saved):
    """Restore the MXCSR returned by :func:`flush_denormals`."""

    def codegen(context, builder, signature, args):
        if _X86:
            slot = builder.alloca(ir.IntType(32))
            builder.store(builder.trunc(args[0], ir.IntType(32)), slot)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.none(saved), codegen
