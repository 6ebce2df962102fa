# One fused, row-major GEMM over scipy.linalg.cython_blas.
#
# scipy's BLAS is Fortran (column-major). A row-major matrix is the
# column-major view of its transpose, so the row-major product
# C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T:
# the operands are swapped and so are m and n. BLAS takes non-const
# pointers; it never writes A or B.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major C (m x n) = alpha op(A) (m x k) op(B) (k x n) + beta C.

    lda, ldb, ldc are the row strides (in elements) of A, B, C as stored:
    A is m x k (k x m when trans_a), B is k x n (n x k when trans_b).
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda, &beta, c, &ldc)
