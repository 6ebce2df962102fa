# Inner loops of the depthwise kernels (conv_depthwise.pyx), in C so that the
# compiler vectorises them: a correlation of one output row with an R x S
# kernel over a zero-padded band of rows (tap s of a row starts at column
# soff[s]: the caller lays strided rows out phase by phase so that every tap
# reads a contiguous run), and the lane-wise dot products of delta rows with
# input rows (one kernel-gradient tap).
#
# Both are written once as macros over the element type (float, double) and
# instantiated twice: a generic build (whatever the compiler's default target
# vectorises, SSE2 on x86_64) and, with GCC or Clang on x86, a clone compiled
# for AVX2 + FMA. Which one runs is decided at RUN time from the CPU
# (__builtin_cpu_supports), once, by cnnprop_dw_init(); the build never uses
# -march flags, so the module stays portable.
#
# Summation order: every output element is a fixed sequence of operations on
# the same operands whatever the thread count (the order depends only on the
# element's position in its row). The AVX2 clone contracts a*b + c into FMA
# (GCC and Clang contract by default): results may differ between a machine
# with and one without AVX2, never between thread counts.
cdef extern from *:
    """
    #ifndef CNNPROP_DW_SIMD
    #define CNNPROP_DW_SIMD
    #include <stddef.h>

    /* One block of B columns of CNNPROP_DW_CORR, its sums in registers (the
       i-loops have constant trip counts: the compiler turns them into vector code). */
    #define CNNPROP_DW_CORR_BLOCK(T, B)                                                   \\
        for (; q + (B) <= Q; q += (B)) {                                                 \\
            T acc[B];                                                                    \\
            for (i = 0; i < (B); i++) acc[i] = accumulate ? out[q + i] : bias;           \\
            for (r = 0; r < R; r++) {                                                    \\
                for (s = 0; s < S; s++) {                                                \\
                    const T ww = w[r * S + s];                                           \\
                    const T *x = src + r * rstep + soff[s] + q;                          \\
                    for (i = 0; i < (B); i++) acc[i] += ww * x[i];                       \\
                }                                                                        \\
            }                                                                            \\
            for (i = 0; i < (B); i++) out[q + i] = acc[i];                               \\
        }

    /* out[q] = (accumulate ? out[q] : bias) + sum_{r<R, s<S} w[r*S+s] * src[r*rstep + soff[s] + q]
       for q < Q, the taps in order r, s: blocks of L, L/4 and L/8 columns, then
       the last few columns one by one (same order). */
    #define CNNPROP_DW_CORR(T, L, NAME, ATTR)                                             \\
    static ATTR void NAME(T *out, const T *src, ptrdiff_t rstep, const ptrdiff_t *soff,  \\
                          const T *w, ptrdiff_t R, ptrdiff_t S, ptrdiff_t Q,             \\
                          T bias, int accumulate) {                                      \\
        ptrdiff_t q = 0, r, s, i;                                                        \\
        CNNPROP_DW_CORR_BLOCK(T, L)                                                      \\
        CNNPROP_DW_CORR_BLOCK(T, L / 4)                                                  \\
        CNNPROP_DW_CORR_BLOCK(T, L / 8)                                                  \\
        for (; q < Q; q++) {                                                             \\
            T a = accumulate ? out[q] : bias;                                            \\
            for (r = 0; r < R; r++)                                                      \\
                for (s = 0; s < S; s++)                                                  \\
                    a += w[r * S + s] * src[r * rstep + soff[s] + q];                    \\
            out[q] = a;                                                                  \\
        }                                                                                \\
    }

    /* L + L/8 + 1 running sums (lanes) of d[y*dstep + q] * x[y*xstep + q] over the
       rows y < rows and the columns q < Q, in order: blocks of L columns go to lanes
       0..L-1, then blocks of L/8 columns to lanes L..L+L/8-1, then single columns to
       the last lane. Each kind of lane has its own registers. */
    #define CNNPROP_DW_DOT(T, L, NAME, ATTR)                                              \\
    static ATTR void NAME(T *acc, const T *d, ptrdiff_t dstep, const T *x,               \\
                          ptrdiff_t xstep, ptrdiff_t Q, ptrdiff_t rows) {                \\
        T a[L], b[L / 8], c = acc[L + L / 8];                                            \\
        ptrdiff_t q, i, y;                                                               \\
        for (i = 0; i < L; i++) a[i] = acc[i];                                           \\
        for (i = 0; i < L / 8; i++) b[i] = acc[L + i];                                   \\
        for (y = 0; y < rows; y++) {                                                     \\
            const T *dy = d + y * dstep, *xy = x + y * xstep;                            \\
            for (q = 0; q + L <= Q; q += L)                                              \\
                for (i = 0; i < L; i++) a[i] += dy[q + i] * xy[q + i];                   \\
            for (; q + L / 8 <= Q; q += L / 8)                                           \\
                for (i = 0; i < L / 8; i++) b[i] += dy[q + i] * xy[q + i];               \\
            for (; q < Q; q++) c += dy[q] * xy[q];                                       \\
        }                                                                                \\
        for (i = 0; i < L; i++) acc[i] = a[i];                                           \\
        for (i = 0; i < L / 8; i++) acc[L + i] = b[i];                                   \\
        acc[L + L / 8] = c;                                                              \\
    }

    /* GCC's unroll-and-jam (-O3) interleaves two taps around the i-loops and
       then leaves the jammed loop scalar: off for these functions. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define CNNPROP_DW_OPT __attribute__((optimize("no-loop-unroll-and-jam")))
    #else
    #define CNNPROP_DW_OPT
    #endif

    #define CNNPROP_DW_LANES_F 32
    #define CNNPROP_DW_LANES_D 16
    /* the running sums of a kernel-gradient tap (CNNPROP_DW_DOT) */
    #define CNNPROP_DW_ACC_F (CNNPROP_DW_LANES_F + CNNPROP_DW_LANES_F / 8 + 1)
    #define CNNPROP_DW_ACC_D (CNNPROP_DW_LANES_D + CNNPROP_DW_LANES_D / 8 + 1)

    CNNPROP_DW_CORR(float, CNNPROP_DW_LANES_F, cnnprop_dw_corr_f_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_CORR(double, CNNPROP_DW_LANES_D, cnnprop_dw_corr_d_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(float, CNNPROP_DW_LANES_F, cnnprop_dw_dot_f_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(double, CNNPROP_DW_LANES_D, cnnprop_dw_dot_d_generic, CNNPROP_DW_OPT)

    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #define CNNPROP_DW_X86 1
    CNNPROP_DW_CORR(float, CNNPROP_DW_LANES_F, cnnprop_dw_corr_f_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_CORR(double, CNNPROP_DW_LANES_D, cnnprop_dw_corr_d_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(float, CNNPROP_DW_LANES_F, cnnprop_dw_dot_f_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(double, CNNPROP_DW_LANES_D, cnnprop_dw_dot_d_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    #else
    #define CNNPROP_DW_X86 0
    #endif

    static int cnnprop_dw_avx2 = 0;

    /* Called once at import: picks the AVX2 + FMA clones when the CPU has them. */
    static int cnnprop_dw_init(void) {
    #if CNNPROP_DW_X86
        __builtin_cpu_init();
        cnnprop_dw_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #endif
        return cnnprop_dw_avx2;
    }

    #if CNNPROP_DW_X86
    #define CNNPROP_DW_PICK(NAME, ...) \\
        (cnnprop_dw_avx2 ? NAME##_avx2(__VA_ARGS__) : NAME##_generic(__VA_ARGS__))
    #else
    #define CNNPROP_DW_PICK(NAME, ...) NAME##_generic(__VA_ARGS__)
    #endif

    static void cnnprop_dw_corr_f(float *out, const float *src, ptrdiff_t rstep,
                                  const ptrdiff_t *soff, const float *w, ptrdiff_t R,
                                  ptrdiff_t S, ptrdiff_t Q, float bias, int accumulate) {
        CNNPROP_DW_PICK(cnnprop_dw_corr_f, out, src, rstep, soff, w, R, S, Q, bias, accumulate);
    }
    static void cnnprop_dw_corr_d(double *out, const double *src, ptrdiff_t rstep,
                                  const ptrdiff_t *soff, const double *w, ptrdiff_t R,
                                  ptrdiff_t S, ptrdiff_t Q, double bias, int accumulate) {
        CNNPROP_DW_PICK(cnnprop_dw_corr_d, out, src, rstep, soff, w, R, S, Q, bias, accumulate);
    }
    static void cnnprop_dw_dot_f(float *acc, const float *d, ptrdiff_t dstep, const float *x,
                                 ptrdiff_t xstep, ptrdiff_t Q, ptrdiff_t rows) {
        CNNPROP_DW_PICK(cnnprop_dw_dot_f, acc, d, dstep, x, xstep, Q, rows);
    }
    static void cnnprop_dw_dot_d(double *acc, const double *d, ptrdiff_t dstep, const double *x,
                                 ptrdiff_t xstep, ptrdiff_t Q, ptrdiff_t rows) {
        CNNPROP_DW_PICK(cnnprop_dw_dot_d, acc, d, dstep, x, xstep, Q, rows);
    }
    #endif
    """
    int CNNPROP_DW_ACC_F
    int CNNPROP_DW_ACC_D
    int cnnprop_dw_init() noexcept nogil
    void cnnprop_dw_corr_f(float* out, const float* src, Py_ssize_t rstep,
                           const Py_ssize_t* soff, const float* w, Py_ssize_t R, Py_ssize_t S,
                           Py_ssize_t Q, float bias, int accumulate) noexcept nogil
    void cnnprop_dw_corr_d(double* out, const double* src, Py_ssize_t rstep,
                           const Py_ssize_t* soff, const double* w, Py_ssize_t R, Py_ssize_t S,
                           Py_ssize_t Q, double bias, int accumulate) noexcept nogil
    void cnnprop_dw_dot_f(float* acc, const float* d, Py_ssize_t dstep, const float* x,
                          Py_ssize_t xstep, Py_ssize_t Q, Py_ssize_t rows) noexcept nogil
    void cnnprop_dw_dot_d(double* acc, const double* d, Py_ssize_t dstep, const double* x,
                          Py_ssize_t xstep, Py_ssize_t Q, Py_ssize_t rows) noexcept nogil
