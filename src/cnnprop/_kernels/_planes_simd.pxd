# Inner loops of the plane kernels (conv_planes.pyx), in C so that the
# compiler vectorises them: a correlation of one output row with an
# nch x R x S kernel over zero-padded bands of rows, one band a channel (tap s of a row starts at column
# soff[s]: the caller lays strided rows out phase by phase so that every tap
# reads a contiguous run), and the lane-wise dot products of delta rows with
# input rows (one kernel-gradient tap).
#
# Both are written once as macros over the element type (float, double) and
# instantiated twice: a generic build (whatever the compiler's default target
# vectorises, SSE2 on x86_64) and, with GCC or Clang on x86, a clone compiled
# for AVX2 + FMA. Which one runs is decided at RUN time from the CPU
# (__builtin_cpu_supports), at import, by cnnprop_dw_select(); the build never uses
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

    /* Tiles of NR output rows x B columns of CNNPROP_DW_CORR starting at column q
       (rows y0, y0 + 1, ... while NR of them remain), their sums in registers:
       the i-loops have constant trip counts, so the compiler turns them into
       vector code, and NR rows give NR independent chains of additions. */
    #define CNNPROP_DW_CORR_TILE(T, NR, B)                                                \\
        for (; y + (NR) <= rows; y += (NR)) {                                            \\
            T acc[NR][B];                                                                \\
            for (j = 0; j < (NR); j++) for (i = 0; i < (B); i++) acc[j][i] = bias;       \\
            for (c = 0; c < nch; c++) {                                                  \\
                for (r = 0; r < R; r++) {                                                \\
                    for (s = 0; s < S; s++) {                                            \\
                        const T ww = w[(c * R + r) * S + s];                             \\
                        const T *x = src + y * ystep + c * cstep + r * rstep + soff[s] + q; \\
                        for (j = 0; j < (NR); j++)                                       \\
                            for (i = 0; i < (B); i++) acc[j][i] += ww * x[j * ystep + i]; \\
                    }                                                                    \\
                }                                                                        \\
            }                                                                            \\
            for (j = 0; j < (NR); j++)                                                   \\
                for (i = 0; i < (B); i++) out[(y + j) * ostep + q + i] = acc[j][i];      \\
        }

    /* out[y*ostep + q] = bias + sum_{c<nch, r<R, s<S} w[(c*R+r)*S+s]
                                  * src[y*ystep + c*cstep + r*rstep + soff[s] + q]
       for the rows y < rows and the columns q < Q, the taps in order c, r, s:
       columns in blocks of L (a row at a time), then of L/4 and L/8 (four rows
       at a time, then one), then the last few columns one by one. */
    #define CNNPROP_DW_CORR(T, L, NAME, ATTR)                                             \\
    static ATTR void NAME(T *out, ptrdiff_t ostep, ptrdiff_t rows, const T *src,         \\
                          ptrdiff_t ystep, ptrdiff_t cstep, ptrdiff_t nch,               \\
                          ptrdiff_t rstep, const ptrdiff_t *soff, const T *w,            \\
                          ptrdiff_t R, ptrdiff_t S, ptrdiff_t Q, T bias) {               \\
        ptrdiff_t q = 0, y, c, r, s, i, j, q1;                                           \\
        for (; q + L <= Q; q += L) {                                                     \\
            y = 0;                                                                       \\
            CNNPROP_DW_CORR_TILE(T, 1, L)                                                \\
        }                                                                                \\
        for (; q + L / 4 <= Q; q += L / 4) {                                             \\
            y = 0;                                                                       \\
            CNNPROP_DW_CORR_TILE(T, 4, L / 4)                                            \\
            CNNPROP_DW_CORR_TILE(T, 1, L / 4)                                            \\
        }                                                                                \\
        for (; q + L / 8 <= Q; q += L / 8) {                                             \\
            y = 0;                                                                       \\
            CNNPROP_DW_CORR_TILE(T, 4, L / 8)                                            \\
            CNNPROP_DW_CORR_TILE(T, 1, L / 8)                                            \\
        }                                                                                \\
        for (y = 0; y < rows; y++) {                                                     \\
            for (q1 = q; q1 < Q; q1++) {                                                 \\
                T a = bias;                                                              \\
                for (c = 0; c < nch; c++)                                                \\
                    for (r = 0; r < R; r++)                                              \\
                        for (s = 0; s < S; s++)                                          \\
                            a += w[(c * R + r) * S + s]                                  \\
                                 * src[y * ystep + c * cstep + r * rstep + soff[s] + q1]; \\
                out[y * ostep + q1] = a;                                                 \\
            }                                                                            \\
        }                                                                                \\
    }

    /* Rows y .. y+NR-1 of CNNPROP_DW_DOT: row y+j adds to its own lanes a[j], b[j],
       c[j] (NR independent chains): blocks of L/4 columns to a[j], then a block of
       L/8 columns to b[j], then single columns to c[j]. */
    #define CNNPROP_DW_DOT_TILE(T, L, NR)                                                 \\
        for (; y + (NR) <= rows; y += (NR)) {                                            \\
            const T *dy = d + y * dstep, *xy = x + y * xstep;                            \\
            for (q = 0; q + L / 4 <= Q; q += L / 4)                                      \\
                for (j = 0; j < (NR); j++)                                               \\
                    for (i = 0; i < L / 4; i++)                                          \\
                        a[j][i] += dy[j * dstep + q + i] * xy[j * xstep + q + i];        \\
            if (q + L / 8 <= Q) {                                                        \\
                for (j = 0; j < (NR); j++)                                               \\
                    for (i = 0; i < L / 8; i++)                                          \\
                        b[j][i] += dy[j * dstep + q + i] * xy[j * xstep + q + i];        \\
                q += L / 8;                                                              \\
            }                                                                            \\
            for (; q < Q; q++)                                                           \\
                for (j = 0; j < (NR); j++) c[j] += dy[j * dstep + q] * xy[j * xstep + q]; \\
        }

    /* CNNPROP_DW_ACC(L) = L + L/2 + 4 running sums (lanes) of d[y*dstep + q] *
       x[y*xstep + q] over the rows y < rows and the columns q < Q, each lane in
       order of y then q: rows four at a time (row y+j to lane group j), then the
       rest one at a time (to group 0); in a row, blocks of L/4 columns, then a
       block of L/8, then single columns, each kind to its own lanes. */
    #define CNNPROP_DW_DOT(T, L, NAME, ATTR)                                              \\
    static ATTR void NAME(T *acc, const T *d, ptrdiff_t dstep, const T *x,               \\
                          ptrdiff_t xstep, ptrdiff_t Q, ptrdiff_t rows) {                \\
        T a[4][L / 4], b[4][L / 8], c[4];                                                \\
        ptrdiff_t q, i, j, y = 0;                                                        \\
        for (j = 0; j < 4; j++) {                                                        \\
            for (i = 0; i < L / 4; i++) a[j][i] = acc[j * (L / 4) + i];                  \\
            for (i = 0; i < L / 8; i++) b[j][i] = acc[L + j * (L / 8) + i];              \\
            c[j] = acc[L + L / 2 + j];                                                   \\
        }                                                                                \\
        CNNPROP_DW_DOT_TILE(T, L, 4)                                                      \\
        CNNPROP_DW_DOT_TILE(T, L, 1)                                                      \\
        for (j = 0; j < 4; j++) {                                                        \\
            for (i = 0; i < L / 4; i++) acc[j * (L / 4) + i] = a[j][i];                  \\
            for (i = 0; i < L / 8; i++) acc[L + j * (L / 8) + i] = b[j][i];              \\
            acc[L + L / 2 + j] = c[j];                                                   \\
        }                                                                                \\
    }

    /* The kernel gradient of 4 outputs x 3 taps at once: 12 sets of L/4 + 1 running
       sums, pair (k, t) at acc[k*akstep + t*atstep + 0..L/4]: lanes 0..L/4-1 take the
       blocks of L/4 columns, lane L/4 the last few columns, of
       d[k*dkstep + y*dstep + q] * x[o_t + y*xstep + q] over the rows y < rows and the
       columns q < Q, in order. Each column block loads 4 delta and 3 input vectors
       for 12 multiply-adds (the one-pair loop above: 2 loads for 1). */
    #define CNNPROP_DW_DOT12(T, L, NAME, ATTR)                                            \\
    static ATTR void NAME(T *acc, ptrdiff_t akstep, ptrdiff_t atstep, const T *d,        \\
                          ptrdiff_t dkstep, ptrdiff_t dstep, const T *x, ptrdiff_t o0,   \\
                          ptrdiff_t o1, ptrdiff_t o2, ptrdiff_t xstep, ptrdiff_t Q,      \\
                          ptrdiff_t rows) {                                              \\
        T a[4][3][L / 4], c[4][3];                                                       \\
        ptrdiff_t q, i, y, k, t, off[3];                                                 \\
        off[0] = o0; off[1] = o1; off[2] = o2;                                           \\
        for (k = 0; k < 4; k++)                                                          \\
            for (t = 0; t < 3; t++) {                                                    \\
                for (i = 0; i < L / 4; i++) a[k][t][i] = acc[k * akstep + t * atstep + i]; \\
                c[k][t] = acc[k * akstep + t * atstep + L / 4];                          \\
            }                                                                            \\
        for (y = 0; y < rows; y++) {                                                     \\
            const T *d0 = d + y * dstep, *d1 = d0 + dkstep, *d2 = d1 + dkstep,           \\
                    *d3 = d2 + dkstep;                                                   \\
            const T *x0 = x + off[0] + y * xstep, *x1 = x + off[1] + y * xstep,          \\
                    *x2 = x + off[2] + y * xstep;                                        \\
            for (q = 0; q + L / 4 <= Q; q += L / 4)                                      \\
                for (i = 0; i < L / 4; i++) {                                            \\
                    a[0][0][i] += d0[q + i] * x0[q + i];                                 \\
                    a[0][1][i] += d0[q + i] * x1[q + i];                                 \\
                    a[0][2][i] += d0[q + i] * x2[q + i];                                 \\
                    a[1][0][i] += d1[q + i] * x0[q + i];                                 \\
                    a[1][1][i] += d1[q + i] * x1[q + i];                                 \\
                    a[1][2][i] += d1[q + i] * x2[q + i];                                 \\
                    a[2][0][i] += d2[q + i] * x0[q + i];                                 \\
                    a[2][1][i] += d2[q + i] * x1[q + i];                                 \\
                    a[2][2][i] += d2[q + i] * x2[q + i];                                 \\
                    a[3][0][i] += d3[q + i] * x0[q + i];                                 \\
                    a[3][1][i] += d3[q + i] * x1[q + i];                                 \\
                    a[3][2][i] += d3[q + i] * x2[q + i];                                 \\
                }                                                                        \\
            for (; q < Q; q++) {                                                         \\
                c[0][0] += d0[q] * x0[q]; c[0][1] += d0[q] * x1[q]; c[0][2] += d0[q] * x2[q]; \\
                c[1][0] += d1[q] * x0[q]; c[1][1] += d1[q] * x1[q]; c[1][2] += d1[q] * x2[q]; \\
                c[2][0] += d2[q] * x0[q]; c[2][1] += d2[q] * x1[q]; c[2][2] += d2[q] * x2[q]; \\
                c[3][0] += d3[q] * x0[q]; c[3][1] += d3[q] * x1[q]; c[3][2] += d3[q] * x2[q]; \\
            }                                                                            \\
        }                                                                                \\
        for (k = 0; k < 4; k++)                                                          \\
            for (t = 0; t < 3; t++) {                                                    \\
                for (i = 0; i < L / 4; i++) acc[k * akstep + t * atstep + i] = a[k][t][i]; \\
                acc[k * akstep + t * atstep + L / 4] = c[k][t];                          \\
            }                                                                            \\
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
    #define CNNPROP_DW_ACC_F (CNNPROP_DW_LANES_F + CNNPROP_DW_LANES_F / 2 + 4)
    #define CNNPROP_DW_ACC_D (CNNPROP_DW_LANES_D + CNNPROP_DW_LANES_D / 2 + 4)

    CNNPROP_DW_CORR(float, CNNPROP_DW_LANES_F, cnnprop_dw_corr_f_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_CORR(double, CNNPROP_DW_LANES_D, cnnprop_dw_corr_d_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(float, CNNPROP_DW_LANES_F, cnnprop_dw_dot_f_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(double, CNNPROP_DW_LANES_D, cnnprop_dw_dot_d_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_DOT12(float, CNNPROP_DW_LANES_F, cnnprop_dw_dot12_f_generic, CNNPROP_DW_OPT)
    CNNPROP_DW_DOT12(double, CNNPROP_DW_LANES_D, cnnprop_dw_dot12_d_generic, CNNPROP_DW_OPT)

    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #define CNNPROP_DW_X86 1
    CNNPROP_DW_CORR(float, CNNPROP_DW_LANES_F, cnnprop_dw_corr_f_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_CORR(double, CNNPROP_DW_LANES_D, cnnprop_dw_corr_d_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(float, CNNPROP_DW_LANES_F, cnnprop_dw_dot_f_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_DOT(double, CNNPROP_DW_LANES_D, cnnprop_dw_dot_d_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_DOT12(float, CNNPROP_DW_LANES_F, cnnprop_dw_dot12_f_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    CNNPROP_DW_DOT12(double, CNNPROP_DW_LANES_D, cnnprop_dw_dot12_d_avx2, __attribute__((target("avx2,fma"))) CNNPROP_DW_OPT)
    #else
    #define CNNPROP_DW_X86 0
    #endif

    static int cnnprop_dw_avx2 = 0;

    /* True when the CPU runs AVX2 and FMA instructions. */
    static int cnnprop_dw_cpu_has_avx2(void) {
    #if CNNPROP_DW_X86
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }

    /* Picks the AVX2 + FMA clones when asked to and the CPU has them (called at
       import with on = 1; the tests also run the generic loops). */
    static int cnnprop_dw_select(int on) {
        cnnprop_dw_avx2 = on && cnnprop_dw_cpu_has_avx2();
        return cnnprop_dw_avx2;
    }

    #if CNNPROP_DW_X86
    #define CNNPROP_DW_PICK(NAME, ...) \\
        (cnnprop_dw_avx2 ? NAME##_avx2(__VA_ARGS__) : NAME##_generic(__VA_ARGS__))
    #else
    #define CNNPROP_DW_PICK(NAME, ...) NAME##_generic(__VA_ARGS__)
    #endif

    static void cnnprop_dw_corr_f(float *out, ptrdiff_t ostep, ptrdiff_t rows, const float *src,
                                  ptrdiff_t ystep, ptrdiff_t cstep, ptrdiff_t nch,
                                  ptrdiff_t rstep, const ptrdiff_t *soff, const float *w,
                                  ptrdiff_t R, ptrdiff_t S, ptrdiff_t Q, float bias) {
        CNNPROP_DW_PICK(cnnprop_dw_corr_f, out, ostep, rows, src, ystep, cstep, nch, rstep, soff,
                        w, R, S, Q, bias);
    }
    static void cnnprop_dw_corr_d(double *out, ptrdiff_t ostep, ptrdiff_t rows, const double *src,
                                  ptrdiff_t ystep, ptrdiff_t cstep, ptrdiff_t nch,
                                  ptrdiff_t rstep, const ptrdiff_t *soff, const double *w,
                                  ptrdiff_t R, ptrdiff_t S, ptrdiff_t Q, double bias) {
        CNNPROP_DW_PICK(cnnprop_dw_corr_d, out, ostep, rows, src, ystep, cstep, nch, rstep, soff,
                        w, R, S, Q, bias);
    }
    static void cnnprop_dw_dot_f(float *acc, const float *d, ptrdiff_t dstep, const float *x,
                                 ptrdiff_t xstep, ptrdiff_t Q, ptrdiff_t rows) {
        CNNPROP_DW_PICK(cnnprop_dw_dot_f, acc, d, dstep, x, xstep, Q, rows);
    }
    static void cnnprop_dw_dot_d(double *acc, const double *d, ptrdiff_t dstep, const double *x,
                                 ptrdiff_t xstep, ptrdiff_t Q, ptrdiff_t rows) {
        CNNPROP_DW_PICK(cnnprop_dw_dot_d, acc, d, dstep, x, xstep, Q, rows);
    }
    static void cnnprop_dw_dot12_f(float *acc, ptrdiff_t akstep, ptrdiff_t atstep, const float *d,
                                   ptrdiff_t dkstep, ptrdiff_t dstep, const float *x, ptrdiff_t o0,
                                   ptrdiff_t o1, ptrdiff_t o2, ptrdiff_t xstep, ptrdiff_t Q,
                                   ptrdiff_t rows) {
        CNNPROP_DW_PICK(cnnprop_dw_dot12_f, acc, akstep, atstep, d, dkstep, dstep, x, o0, o1, o2,
                        xstep, Q, rows);
    }
    static void cnnprop_dw_dot12_d(double *acc, ptrdiff_t akstep, ptrdiff_t atstep, const double *d,
                                   ptrdiff_t dkstep, ptrdiff_t dstep, const double *x, ptrdiff_t o0,
                                   ptrdiff_t o1, ptrdiff_t o2, ptrdiff_t xstep, ptrdiff_t Q,
                                   ptrdiff_t rows) {
        CNNPROP_DW_PICK(cnnprop_dw_dot12_d, acc, akstep, atstep, d, dkstep, dstep, x, o0, o1, o2,
                        xstep, Q, rows);
    }
    #endif
    """
    int CNNPROP_DW_LANES_F
    int CNNPROP_DW_LANES_D
    int CNNPROP_DW_ACC_F
    int CNNPROP_DW_ACC_D
    int cnnprop_dw_cpu_has_avx2() noexcept nogil
    int cnnprop_dw_select(int on) noexcept nogil
    void cnnprop_dw_corr_f(float* out, Py_ssize_t ostep, Py_ssize_t rows, const float* src,
                           Py_ssize_t ystep, Py_ssize_t cstep, Py_ssize_t nch,
                           Py_ssize_t rstep, const Py_ssize_t* soff, const float* w,
                           Py_ssize_t R, Py_ssize_t S, Py_ssize_t Q, float bias) noexcept nogil
    void cnnprop_dw_corr_d(double* out, Py_ssize_t ostep, Py_ssize_t rows, const double* src,
                           Py_ssize_t ystep, Py_ssize_t cstep, Py_ssize_t nch,
                           Py_ssize_t rstep, const Py_ssize_t* soff, const double* w,
                           Py_ssize_t R, Py_ssize_t S, Py_ssize_t Q, double bias) noexcept nogil
    void cnnprop_dw_dot_f(float* acc, const float* d, Py_ssize_t dstep, const float* x,
                          Py_ssize_t xstep, Py_ssize_t Q, Py_ssize_t rows) noexcept nogil
    void cnnprop_dw_dot_d(double* acc, const double* d, Py_ssize_t dstep, const double* x,
                          Py_ssize_t xstep, Py_ssize_t Q, Py_ssize_t rows) noexcept nogil
    void cnnprop_dw_dot12_f(float* acc, Py_ssize_t akstep, Py_ssize_t atstep, const float* d,
                            Py_ssize_t dkstep, Py_ssize_t dstep, const float* x, Py_ssize_t o0,
                            Py_ssize_t o1, Py_ssize_t o2, Py_ssize_t xstep, Py_ssize_t Q,
                            Py_ssize_t rows) noexcept nogil
    void cnnprop_dw_dot12_d(double* acc, Py_ssize_t akstep, Py_ssize_t atstep, const double* d,
                            Py_ssize_t dkstep, Py_ssize_t dstep, const double* x, Py_ssize_t o0,
                            Py_ssize_t o1, Py_ssize_t o2, Py_ssize_t xstep, Py_ssize_t Q,
                            Py_ssize_t rows) noexcept nogil
