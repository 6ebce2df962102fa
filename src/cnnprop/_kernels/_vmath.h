/* Vectorisable exp, expm1 and log1p for the transcendental activations.
 *
 * Used by activation_fast.pyx (`cdef extern from "_vmath.h"`). Every function
 * here is branch-free straight-line arithmetic with no libm call, so that the
 * loops at the end of this file vectorise with plain -O3 (SSE2 on x86_64,
 * NEON on aarch64); where the CPU has AVX2 and FMA, a second copy of the same
 * loops compiled for them is chosen at RUN time (cnnp_vmath_select), never at
 * build time.
 *
 * Method (the same for float and double, different polynomials):
 *   exp, expm1 (arguments y <= 0 only: every caller passes -|x| or min(x, 0)):
 *     n = round(y / ln2) by the 1.5 * 2^(p-1) shifter trick, whose bit
 *     pattern then holds n as an integer (no float-to-int conversion, which
 *     SSE2/AVX2 lack for 64-bit integers); r = y - n ln2 in two pieces
 *     (Cody-Waite: n * LN2HI is exact), |r| <= ln2/2; expm1(r) = r + r^2 Q(r)
 *     with Q a near-minimax (Chebyshev) fit, 2^n from the exponent bits.
 *     exp(y) = ((1 + expm1(r)) 2^(n+E)) 2^-E, so 2^(n+E) stays normal and a
 *     subnormal result is rounded once; expm1(y) = 2^n expm1(r) + (2^n - 1).
 *   log1p (arguments y in [0, 1]: softplus's log1p(exp(-|x|))):
 *     1 + y = 2^k (1 + f) with k = 0, f = y (y < 1/2) or k = 1,
 *     f = (y - 1)/2 (exact, Sterbenz), so -1/4 <= f < 1/2 and 1 + y is never
 *     rounded; log(1 + f) = 2 atanh(s) = 2 s + s t R(t), s = f / (2 + f),
 *     t = s^2 <= 1/25, R a near-minimax fit; + k ln2 in two pieces.
 *   The coefficients come from tools/fit_vmath.py (mpmath.chebyfit); their
 *   approximation error is below 0.03 ulp (float) and 0.01 ulp (double), so
 *   the roundings of the evaluation dominate: see docs/performance.md for
 *   the measured ulp errors of each activation.
 *
 * Edges: the arguments are clamped where the result saturates (exp to +0,
 * expm1 to -1), so -inf and huge |x| give the exact limits; a clamp is a
 * comparison that is false for NaN, so NaN passes through the arithmetic and
 * comes out NaN (its payload is not preserved). -0.0 stays -0.0 where the
 * function is odd (tanh) and the literal kernels keep it. The backward
 * passes multiply exp by delta: where exp is subnormal they use a copy
 * scaled by 2^1084 (2^156 in float) and round the product once
 * (cnnp_exp_neg_split_*), in a loop chosen per chunk only when an argument
 * reaches that tail.
 */
#ifndef CNNPROP_VMATH_H
#define CNNPROP_VMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#  define CNNP_INLINE static __forceinline
#  define CNNP_RESTRICT __restrict
#elif defined(__GNUC__) || defined(__clang__)
#  define CNNP_INLINE static inline __attribute__((always_inline))
#  define CNNP_RESTRICT __restrict__
#else
#  define CNNP_INLINE static inline
#  define CNNP_RESTRICT
#endif

/* GCC keeps FP exception flags exact by default (-ftrapping-math), so it
 * will not turn `y < c ? c : y` followed by arithmetic into a blend: it sinks
 * the arithmetic into one arm and then may not execute it speculatively. No
 * caller reads the flags (as none reads errno: -fno-math-errno), so the code
 * of this header is compiled without that guarantee; values, NaN and
 * infinities are unchanged. Clang assumes this by default. */
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC push_options
#  pragma GCC optimize("no-trapping-math")
#  define CNNP_POP_OPTIONS 1
#endif

/* Run-time choice of an AVX2+FMA copy of the loops: GCC and Clang on x86
 * (define CNNP_VMATH_X86=0 to build the generic loops only). */
#ifndef CNNP_VMATH_X86
#  if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#    define CNNP_VMATH_X86 1
#  else
#    define CNNP_VMATH_X86 0
#  endif
#endif

/* Bit casts through memcpy: defined behaviour, and compilers turn them into
 * plain register moves that vectorise. */
CNNP_INLINE uint64_t cnnp_bits_d(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
CNNP_INLINE double cnnp_double(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }
CNNP_INLINE uint32_t cnnp_bits_f(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
CNNP_INLINE float cnnp_float(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }

CNNP_INLINE double cnnp_abs_d(double x) { return cnnp_double(cnnp_bits_d(x) & 0x7fffffffffffffffULL); }
CNNP_INLINE float cnnp_abs_f(float x) { return cnnp_float(cnnp_bits_f(x) & 0x7fffffffU); }
/* |m| with the sign of x: copysign, in bit operations that vectorise */
CNNP_INLINE double cnnp_with_sign_d(double m, double x) {
    return cnnp_double((cnnp_bits_d(m) & 0x7fffffffffffffffULL) | (cnnp_bits_d(x) & 0x8000000000000000ULL));
}
CNNP_INLINE float cnnp_with_sign_f(float m, float x) {
    return cnnp_float((cnnp_bits_f(m) & 0x7fffffffU) | (cnnp_bits_f(x) & 0x80000000U));
}

/* ---------------------------------------------------------------- double */

#define CNNP_SHIFT_D 6755399441055744.0          /* 1.5 * 2^52 */
#define CNNP_INVLN2_D 1.4426950408889634
#define CNNP_LN2HI_D 6.93147180369123816490e-01  /* fdlibm: 32 bits, n * LN2HI exact */
#define CNNP_LN2LO_D 1.90821492927058770002e-10

/* expm1(r), |r| <= ln2/2: r + r^2 Q(r), Q of degree 10 */
CNNP_INLINE double cnnp_expm1_r_d(double r) {
    double q = 2.0914686968086876e-09;
    q = q * r + 2.5105217004720745e-08;
    q = q * r + 2.75572736431103e-07;
    q = q * r + 2.7557255400206422e-06;
    q = q * r + 2.4801587325547743e-05;
    q = q * r + 0.00019841269874820627;
    q = q * r + 0.0013888888888883748;
    q = q * r + 0.008333333333326136;
    q = q * r + 0.04166666666666667;
    q = q * r + 0.1666666666666667;
    q = q * r + 0.5;
    return r + (r * r) * q;
}

/* exp(y) for y <= 0 (or NaN). Below -746 the result rounds to +0; the clamp
 * keeps n >= -1076, so 2^(n+64) is a normal number. */
CNNP_INLINE double cnnp_exp_neg_d(double y) {
    double kd, n, r, p, scale;
    y = y < -746.0 ? -746.0 : y;
    kd = y * CNNP_INVLN2_D + CNNP_SHIFT_D;
    n = kd - CNNP_SHIFT_D;
    r = (y - n * CNNP_LN2HI_D) - n * CNNP_LN2LO_D;
    p = cnnp_expm1_r_d(r);
    scale = cnnp_double((cnnp_bits_d(kd) + (1023 + 64)) << 52);   /* 2^(n+64) */
    return ((1.0 + p) * scale) * 5.421010862427522e-20;           /* * 2^-64 */
}

/* exp(y) for y <= 0 (or NaN) for the backward passes, which multiply it by
 * delta: *e = exp(y) rounded (0 where it is subnormal: it then only enters
 * as 1 + e), and *t = exp(y) 2^1084, valid (a normal
 * number) for -1460 <= y < -709, where e is subnormal or 0 but delta * e
 * may be a normal number: delta * t 2^-1084 rounds once. delta * t stays
 * finite for |delta| < 2^963. Below -1460, delta * exp(y) < 2^-1076 for
 * such delta, so the clamp there is exact. Both scales come from the same
 * polynomial. */
/* v 2^-1084, in two steps, exact then rounded once (2^-1084 is below the range) */
#define CNNP_UNSCALE_d(v) (((v) * 6.946121092140867e-164) * 6.946121092140867e-164)

CNNP_INLINE void cnnp_exp_neg_split_d(double y, double *e, double *t) {
    double kd, n, r, p, big, tiny;
    y = y < -1460.0 ? -1460.0 : y;
    kd = y * CNNP_INVLN2_D + CNNP_SHIFT_D;
    n = kd - CNNP_SHIFT_D;
    r = (y - n * CNNP_LN2HI_D) - n * CNNP_LN2LO_D;
    p = 1.0 + cnnp_expm1_r_d(r);
    /* 2^(n+64) is garbage below y = -752 and 2^(n+1084) above -42: each
     * is used only where it is valid */
    big = ((p * cnnp_double((cnnp_bits_d(kd) + (1023 + 64)) << 52)) * 5.421010862427522e-20);
    tiny = cnnp_double((cnnp_bits_d(kd) + (1023 + 1084)) << 52);
    /* lanes that will not use t get a harmless 2^1000, not the wrapped
     * exponent: subnormal intermediates there would cost microcode assists
     * on every element */
    *t = p * (y < -700.0 ? tiny : 1.0715086071862673e+301);
    /* where e is subnormal it only enters as 1 + e = 1 */
    *e = y < -709.0 ? 0.0 : big;
}

/* expm1(y) for y <= 0 (or NaN). Below -100 it rounds to -1; the clamp keeps
 * 2^n normal. */
CNNP_INLINE double cnnp_expm1_neg_d(double y) {
    double kd, n, r, p, scale;
    y = y < -100.0 ? -100.0 : y;
    kd = y * CNNP_INVLN2_D + CNNP_SHIFT_D;
    n = kd - CNNP_SHIFT_D;
    r = (y - n * CNNP_LN2HI_D) - n * CNNP_LN2LO_D;
    p = cnnp_expm1_r_d(r);
    scale = cnnp_double((cnnp_bits_d(kd) + 1023) << 52);          /* 2^n */
    return scale * p + (scale - 1.0);      /* n = 0: exactly p, no cancellation */
}

/* log1p(y) for 0 <= y <= 1 (or NaN) */
CNNP_INLINE double cnnp_log1p_unit_d(double y) {
    int big = y >= 0.5;
    double k = big ? 1.0 : 0.0;
    double f = big ? (y - 1.0) * 0.5 : y;
    double s = f / (2.0 + f);
    double t = s * s;
    double q = 0.13604015707124079;
    q = q * t + 0.1321036048513262;
    q = q * t + 0.15388834677801916;
    q = q * t + 0.18181738454723026;
    q = q * t + 0.22222223037807243;
    q = q * t + 0.2857142856733919;
    q = q * t + 0.400000000000078;
    q = q * t + 0.6666666666666666;
    return k * CNNP_LN2HI_D + ((2.0 * s + s * t * q) + k * CNNP_LN2LO_D);
}

/* ----------------------------------------------------------------- float */

#define CNNP_SHIFT_F 12582912.0f                 /* 1.5 * 2^23 */
#define CNNP_INVLN2_F 1.4426950216293335f
#define CNNP_LN2HI_F 0.693359375f                /* Cephes: 9 bits, n * LN2HI exact */
#define CNNP_LN2LO_F -0.00021219444170128554f

/* expm1(r), |r| <= ln2/2: r + r^2 Q(r), Q of degree 5 */
CNNP_INLINE float cnnp_expm1_r_f(float r) {
    float q = 0.00019890991097781807f;
    q = q * r + 0.0013933649752289057f;
    q = q * r + 0.00833331048488617f;
    q = q * r + 0.04166646674275398f;
    q = q * r + 0.1666666716337204f;
    q = q * r + 0.5f;
    return r + (r * r) * q;
}

/* exp(y) for y <= 0 (or NaN): +0 below -104; 2^(n+32) stays normal. */
CNNP_INLINE float cnnp_exp_neg_f(float y) {
    float kd, n, r, p, scale;
    y = y < -104.0f ? -104.0f : y;
    kd = y * CNNP_INVLN2_F + CNNP_SHIFT_F;
    n = kd - CNNP_SHIFT_F;
    r = (y - n * CNNP_LN2HI_F) - n * CNNP_LN2LO_F;
    p = cnnp_expm1_r_f(r);
    scale = cnnp_float((cnnp_bits_f(kd) + (127 + 32)) << 23);     /* 2^(n+32) */
    return ((1.0f + p) * scale) * 2.3283064365386963e-10f;        /* * 2^-32 */
}

/* As cnnp_exp_neg_split_d: *t = exp(y) 2^156, normal for -195 <= y < -88
 * (where e is subnormal); delta * t finite for |delta| < 2^98; the clamp at
 * -195 exact for such delta (delta * exp(y) < 2^-151). */
/* v 2^-156, in two steps (2^-156 is below float's range) */
#define CNNP_UNSCALE_f(v) (((v) * 3.308722450212111e-24f) * 3.308722450212111e-24f)

CNNP_INLINE void cnnp_exp_neg_split_f(float y, float *e, float *t) {
    float kd, n, r, p, big, tiny;
    y = y < -195.0f ? -195.0f : y;
    kd = y * CNNP_INVLN2_F + CNNP_SHIFT_F;
    n = kd - CNNP_SHIFT_F;
    r = (y - n * CNNP_LN2HI_F) - n * CNNP_LN2LO_F;
    p = 1.0f + cnnp_expm1_r_f(r);
    big = (p * cnnp_float((cnnp_bits_f(kd) + (127 + 32)) << 23)) * 2.3283064365386963e-10f;
    tiny = cnnp_float((cnnp_bits_f(kd) + (127 + 156)) << 23);
    *t = p * (y < -80.0f ? tiny : 1.2676506002282294e+30f);             /* 2^100 */
    *e = y < -88.0f ? 0.0f : big;
}

/* expm1(y) for y <= 0 (or NaN): -1 below -40. */
CNNP_INLINE float cnnp_expm1_neg_f(float y) {
    float kd, n, r, p, scale;
    y = y < -40.0f ? -40.0f : y;
    kd = y * CNNP_INVLN2_F + CNNP_SHIFT_F;
    n = kd - CNNP_SHIFT_F;
    r = (y - n * CNNP_LN2HI_F) - n * CNNP_LN2LO_F;
    p = cnnp_expm1_r_f(r);
    scale = cnnp_float((cnnp_bits_f(kd) + 127) << 23);            /* 2^n */
    return scale * p + (scale - 1.0f);
}

/* log1p(y) for 0 <= y <= 1 (or NaN) */
CNNP_INLINE float cnnp_log1p_unit_f(float y) {
    int big = y >= 0.5f;
    float k = big ? 1.0f : 0.0f;
    float f = big ? (y - 1.0f) * 0.5f : y;
    float s = f / (2.0f + f);
    float t = s * s;
    float q = 0.23747344315052032f;
    q = q * t + 0.2853274345397949f;
    q = q * t + 0.4000031054019928f;
    q = q * t + 0.6666666865348816f;
    return k * CNNP_LN2HI_F + ((2.0f * s + s * t * q) + k * CNNP_LN2LO_F);
}

/* ------------------------------------------------------------ activations
 * phi(x) and delta * phi'(x), eqs (15) and (16), in the forms of the literal
 * kernels (activation_direct.pyx). Both arms of every select are computed
 * first, so the compiler has no floating-point operation to speculate out of
 * a branch (which it refuses to do while FP exceptions are exact) and turns
 * the select into a blend. */

#define CNNP_ACTIVATIONS(T, S, ONE, TWO, FOUR, SMALL)                                          \
CNNP_INLINE T cnnp_sigmoid_##S(T x, T a) {                                              \
    /* 1/(1+e) for x >= 0, e/(1+e) otherwise, e = exp(-|x|) <= 1: no overflow */        \
    T e = cnnp_exp_neg_##S(-cnnp_abs_##S(x));                                           \
    T num = x >= 0 ? ONE : e;                                                           \
    (void)a;                                                                            \
    return num / (ONE + e);                                                             \
}                                                                                       \
CNNP_INLINE T cnnp_tanh_##S(T x, T a) {                                                 \
    /* tanh|x| = -m/(2+m), m = expm1(-2|x|) in (-1, 0]: no cancellation near 0 */       \
    T m = cnnp_expm1_neg_##S(-TWO * cnnp_abs_##S(x));                                   \
    (void)a;                                                                            \
    return cnnp_with_sign_##S(-m / (TWO + m), x);                                       \
}                                                                                       \
CNNP_INLINE T cnnp_elu_##S(T x, T a) {                                                  \
    /* x > 0 (and NaN) -> x; x = +-0 -> x, keeping -0.0 */                              \
    T y = x > 0 ? 0 : x;                                                                \
    T m = a * cnnp_expm1_neg_##S(y);                                                    \
    return x < 0 ? m : x;                                                               \
}                                                                                       \
CNNP_INLINE T cnnp_softplus_##S(T x, T a) {                                             \
    /* max(x, 0) + log1p(exp(-|x|)) */                                                  \
    T l = cnnp_log1p_unit_##S(cnnp_exp_neg_##S(-cnnp_abs_##S(x)));                      \
    T p = x > 0 ? x : 0;                                                                \
    (void)a;                                                                            \
    return p + l;                                                                       \
}                                                                                       \
CNNP_INLINE T cnnp_sigmoid_grad_##S(T d, T x, T a) {                                    \
    /* s (1 - s) = e / (1 + e)^2, e = exp(-|x|): no cancellation in the tails; */        \
    /* where e is subnormal, delta * e from e 2^OFF, rounded once */                     \
    T y = -cnnp_abs_##S(x), e, t, q;                                                    \
    cnnp_exp_neg_split_##S(y, &e, &t);                                                  \
    q = ONE + e;                                                                        \
    (void)a;                                                                            \
    return y < SMALL ? CNNP_UNSCALE_##S(d * t) : d * (e / (q * q));                           \
}                                                                                       \
CNNP_INLINE T cnnp_tanh_grad_##S(T d, T x, T a) {                                       \
    /* 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|x|) */                                  \
    T y = -TWO * cnnp_abs_##S(x), e, t, q;                                              \
    cnnp_exp_neg_split_##S(y, &e, &t);                                                  \
    q = ONE + e;                                                                        \
    (void)a;                                                                            \
    return y < SMALL ? CNNP_UNSCALE_##S(d * (FOUR * t)) : d * (FOUR * e / (q * q));           \
}                                                                                       \
CNNP_INLINE T cnnp_elu_grad_##S(T d, T x, T a) {                                        \
    /* 1 for x > 0, a exp(x) otherwise (phi'(0) = a); NaN -> exp(NaN) = NaN */          \
    T y = x > 0 ? 0 : x, e, t, g;                                                       \
    cnnp_exp_neg_split_##S(y, &e, &t);                                                  \
    g = y < SMALL ? CNNP_UNSCALE_##S(d * (a * t)) : d * (a * e);                              \
    return x > 0 ? d : g;                                                               \
}                                                                                       \
CNNP_INLINE T cnnp_softplus_grad_##S(T d, T x, T a) {                                   \
    /* delta sigmoid(x): (x >= 0 ? 1 : e) / (1 + e), e = exp(-|x|) */                   \
    T y = -cnnp_abs_##S(x), e, t, num;                                                  \
    cnnp_exp_neg_split_##S(y, &e, &t);                                                  \
    num = x >= 0 ? ONE : e;                                                             \
    (void)a;                                                                            \
    return (y < SMALL && x < 0) ? CNNP_UNSCALE_##S(d * t) : d * (num / (ONE + e));            \
}                                                                                       \
/* The same four where no argument reaches the subnormal tail (|x| < LIMIT):   */      \
/* the same arithmetic as the normal lanes above, without the scaled copy.     */      \
CNNP_INLINE T cnnp_sigmoid_plain_##S(T d, T x, T a) {                                   \
    T e = cnnp_exp_neg_##S(-cnnp_abs_##S(x));                                           \
    T q = ONE + e;                                                                      \
    (void)a;                                                                            \
    return d * (e / (q * q));                                                           \
}                                                                                       \
CNNP_INLINE T cnnp_tanh_plain_##S(T d, T x, T a) {                                      \
    T e = cnnp_exp_neg_##S(-TWO * cnnp_abs_##S(x));                                     \
    T q = ONE + e;                                                                      \
    (void)a;                                                                            \
    return d * (FOUR * e / (q * q));                                                    \
}                                                                                       \
CNNP_INLINE T cnnp_elu_plain_##S(T d, T x, T a) {                                       \
    T y = x > 0 ? 0 : x;                                                                \
    T g = d * (a * cnnp_exp_neg_##S(y));                                                \
    return x > 0 ? d : g;                                                               \
}                                                                                       \
CNNP_INLINE T cnnp_softplus_plain_##S(T d, T x, T a) {                                  \
    T e = cnnp_exp_neg_##S(-cnnp_abs_##S(x));                                           \
    T num = x >= 0 ? ONE : e;                                                           \
    (void)a;                                                                            \
    return d * (num / (ONE + e));                                                       \
}

CNNP_ACTIVATIONS(double, d, 1.0, 2.0, 4.0, -709.0)
CNNP_ACTIVATIONS(float, f, 1.0f, 2.0f, 4.0f, -88.0f)

/* ------------------------------------------------------------------ loops */

#define CNNP_FORWARD_LOOP(ISA, ATTR, NAME, T, S)                                        \
ATTR static void cnnp_##NAME##_forward_##S##_##ISA(const T *CNNP_RESTRICT z,            \
        T *CNNP_RESTRICT out, ptrdiff_t n, T a) {                                       \
    ptrdiff_t i;                                                                        \
    for (i = 0; i < n; i++) out[i] = cnnp_##NAME##_##S(z[i], a);                        \
}
/* Backward: a first pass finds whether any |z| reaches the tail where exp
 * is subnormal (the comparisons are false for NaN); only then does the loop
 * carry the scaled copy of exp (25-30% more work). Both loops compute the
 * same arithmetic on the other elements, so a result does not depend on the
 * rest of the array (tests/test_activation_ulp.py checks it bitwise). */
#define CNNP_BACKWARD_LOOP(ISA, ATTR, NAME, T, S)                                       \
ATTR static void cnnp_##NAME##_backward_##S##_##ISA(const T *CNNP_RESTRICT delta,       \
        const T *CNNP_RESTRICT z, T *CNNP_RESTRICT out, ptrdiff_t n, T a) {             \
    ptrdiff_t i;                                                                        \
    int tail = 0;                                                                       \
    for (i = 0; i < n; i++) tail |= cnnp_abs_##S(z[i]) > CNNP_TAIL_##S;                 \
    if (tail)                                                                           \
        for (i = 0; i < n; i++) out[i] = cnnp_##NAME##_grad_##S(delta[i], z[i], a);     \
    else                                                                                \
        for (i = 0; i < n; i++) out[i] = cnnp_##NAME##_plain_##S(delta[i], z[i], a);    \
}
/* below these |z| no backward pass reaches y < SMALL (tanh's y = -2|z|) */
#define CNNP_TAIL_d 350.0
#define CNNP_TAIL_f 40.0f
#define CNNP_LOOPS_OF(ISA, ATTR, NAME)                                                  \
    CNNP_FORWARD_LOOP(ISA, ATTR, NAME, float, f)                                        \
    CNNP_FORWARD_LOOP(ISA, ATTR, NAME, double, d)                                       \
    CNNP_BACKWARD_LOOP(ISA, ATTR, NAME, float, f)                                       \
    CNNP_BACKWARD_LOOP(ISA, ATTR, NAME, double, d)
#define CNNP_ALL_LOOPS(ISA, ATTR)                                                       \
    CNNP_LOOPS_OF(ISA, ATTR, sigmoid)                                                   \
    CNNP_LOOPS_OF(ISA, ATTR, tanh)                                                      \
    CNNP_LOOPS_OF(ISA, ATTR, elu)                                                       \
    CNNP_LOOPS_OF(ISA, ATTR, softplus)

CNNP_ALL_LOOPS(generic, )
#if CNNP_VMATH_X86
/* the always_inline helpers above (default target) inline into these and
 * are compiled for AVX2 and FMA with them */
CNNP_ALL_LOOPS(avx2, __attribute__((target("avx2,fma"))))
#endif

/* 1: the AVX2+FMA loops run, 0: the generic ones. Set once, at import of
 * activation_fast, before any kernel runs; tests may switch it. */
static int cnnp_vmath_avx2 = 0;

/* Whether this CPU (and this build) can run the AVX2+FMA loops. */
static int cnnp_vmath_avx2_available(void) {
#if CNNP_VMATH_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* want: -1 the best the CPU runs, 0 generic, 1 AVX2+FMA if available.
 * Returns the choice made (0 or 1). */
static int cnnp_vmath_select(int want) {
    int avx2 = cnnp_vmath_avx2_available();
    cnnp_vmath_avx2 = want < 0 ? avx2 : (want > 0 && avx2);
    return cnnp_vmath_avx2;
}

#if CNNP_VMATH_X86
#  define CNNP_DISPATCH(CALL_AVX2, CALL_GENERIC) if (cnnp_vmath_avx2) CALL_AVX2; else CALL_GENERIC
#else
#  define CNNP_DISPATCH(CALL_AVX2, CALL_GENERIC) CALL_GENERIC
#endif

#define CNNP_ENTRY_FORWARD(NAME, T, S)                                                  \
static void cnnp_##NAME##_forward_##S(const T *z, T *out, ptrdiff_t n, T a) {           \
    CNNP_DISPATCH(cnnp_##NAME##_forward_##S##_avx2(z, out, n, a),                       \
                  cnnp_##NAME##_forward_##S##_generic(z, out, n, a));                   \
}
#define CNNP_ENTRY_BACKWARD(NAME, T, S)                                                 \
static void cnnp_##NAME##_backward_##S(const T *delta, const T *z, T *out,              \
                                       ptrdiff_t n, T a) {                              \
    CNNP_DISPATCH(cnnp_##NAME##_backward_##S##_avx2(delta, z, out, n, a),               \
                  cnnp_##NAME##_backward_##S##_generic(delta, z, out, n, a));           \
}
#define CNNP_ENTRIES_OF(NAME)                                                           \
    CNNP_ENTRY_FORWARD(NAME, float, f)                                                  \
    CNNP_ENTRY_FORWARD(NAME, double, d)                                                 \
    CNNP_ENTRY_BACKWARD(NAME, float, f)                                                 \
    CNNP_ENTRY_BACKWARD(NAME, double, d)

CNNP_ENTRIES_OF(sigmoid)
CNNP_ENTRIES_OF(tanh)
CNNP_ENTRIES_OF(elu)
CNNP_ENTRIES_OF(softplus)

#ifdef CNNP_POP_OPTIONS
#  pragma GCC pop_options
#endif

#endif /* CNNPROP_VMATH_H */
