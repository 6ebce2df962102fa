"""Bad input gets a clear TypeError or ValueError naming the argument, never a crash."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnprop

F64, F32 = np.float64, np.float32


def arr(*shape, dtype=F64):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


Z, F, B = arr(2, 3, 6, 6), arr(4, 3, 3, 3), arr(4)
DELTA = arr(2, 4, 4, 4)
Y = cnnprop.maxpool2d_forward(Z, 2)
DY = arr(*Y.shape)
ZA, WA, BA, DA = arr(2, 12), arr(5, 12), arr(5), arr(2, 5)

conv_fwd = cnnprop.conv2d_forward
conv_bi = cnnprop.conv2d_backward_input
conv_bf = cnnprop.conv2d_backward_filter
conv_bb = cnnprop.conv2d_backward_bias
pool_f = cnnprop.maxpool2d_forward
pool_b = cnnprop.maxpool2d_backward
act_f = cnnprop.activation_forward
act_b = cnnprop.activation_backward
aff_f = cnnprop.affine_forward
aff_bi = cnnprop.affine_backward_input
aff_bw = cnnprop.affine_backward_weight
aff_bb = cnnprop.affine_backward_bias

CASES = [
    # ---- ranks
    ("z rank", lambda: conv_fwd(Z[0, 0], F), ValueError, r"z must be a 3-D or 4-D array \(N, C, H, W\)"),
    ("f rank", lambda: conv_fwd(Z, F[0]), ValueError, r"f must be a 4-D array \(K, C / groups, R, S\)"),
    ("b rank", lambda: conv_fwd(Z, F, B[:, None]), ValueError, r"b must be a 1-D array"),
    ("delta rank bias", lambda: conv_bb(DELTA[0, 0]), ValueError, r"delta must be a 3-D or 4-D array"),
    ("pool rank", lambda: pool_f(Z[0, 0], 2), ValueError, r"z must be a 3-D or 4-D array"),
    ("affine rank", lambda: aff_f(Z[:, :, 0], arr(5, 18)), ValueError, r"z must be a 2-D or 4-D array"),
    ("affine w rank", lambda: aff_f(ZA, WA[0]), ValueError, r"w must be a 2-D array \(I, J\)"),
    # ---- dtypes: never cast silently
    ("int z", lambda: conv_fwd(Z.astype(np.int64), F), TypeError, r"z must have dtype float32 or float64, got int64"),
    ("bool z", lambda: pool_f(Z > 0, 2), TypeError, r"z must have dtype float32 or float64, got bool"),
    ("complex f", lambda: conv_fwd(Z, F.astype(complex)), TypeError, r"f must have dtype .* got complex128"),
    ("float16", lambda: act_f(Z.astype(np.float16), "relu"), TypeError, r"got float16"),
    ("longdouble", lambda: act_f(Z.astype(np.longdouble), "relu"), TypeError, r"z must have dtype"),
    ("object", lambda: aff_f(ZA.astype(object), WA), TypeError, r"got object"),
    ("strings", lambda: act_f(["a", "b"], "relu"), TypeError, r"z must have dtype"),
    ("ragged", lambda: act_f([[1.0], [1.0, 2.0]], "relu"), TypeError, r"z must be a float32 or float64 array"),
    ("None", lambda: conv_fwd(None, F), TypeError, r"z must be a float32 or float64 array, got None"),
    ("mixed z f", lambda: conv_fwd(Z.astype(F32), F), TypeError, r"f has dtype float64 but z has dtype float32"),
    ("mixed b", lambda: conv_fwd(Z, F, B.astype(F32)), TypeError, r"b has dtype float32 but z has dtype float64"),
    ("mixed delta f", lambda: conv_bi(DELTA.astype(F32), F, Z.shape), TypeError, r"f has dtype float64 but delta"),
    ("mixed delta z", lambda: conv_bf(DELTA, Z.astype(F32), 3), TypeError, r"z has dtype float32 but delta"),
    ("mixed pool y", lambda: pool_b(DY, Z, Y.astype(F32), 2), TypeError, r"y has dtype float32"),
    ("mixed act", lambda: act_b(Z.astype(F32), Z, "relu"), TypeError, r"delta has dtype float32 but z"),
    ("mixed affine", lambda: aff_bw(DA.astype(F32), ZA), TypeError, r"z has dtype float64 but delta"),
    # ---- shapes
    ("channels", lambda: conv_fwd(Z, arr(4, 2, 3, 3)), ValueError, r"input channels of f .* 2 != 3"),
    ("bias length", lambda: conv_fwd(Z, F, arr(3)), ValueError, r"b must have shape \(4,\)"),
    ("empty z", lambda: conv_fwd(np.empty((1, 3, 0, 6)), F), ValueError, r"z must have at least one entry"),
    ("empty f", lambda: conv_fwd(Z, np.empty((4, 3, 0, 3))), ValueError, r"f must not be empty"),
    ("delta vs geometry", lambda: conv_bi(DELTA, F, Z.shape, stride=2), ValueError,
     r"delta must have shape \(2, 4, 2, 2\)"),
    ("delta batch", lambda: conv_bi(DELTA, F, (3, 3, 6, 6)), ValueError, r"delta must have shape \(3, 4, 4, 4\)"),
    ("delta K vs f", lambda: conv_bi(DELTA[:, :3], F, Z.shape), ValueError, r"delta must have shape \(2, 4, 4, 4\)"),
    ("input_shape C", lambda: conv_bi(DELTA, F, (2, 5, 6, 6)), ValueError, r"input channels of f .* 3 != 5"),
    ("input_shape len", lambda: conv_bi(DELTA, F, (2, 3, 6)), ValueError, r"input_shape must have 4 entries"),
    ("input_shape type", lambda: conv_bi(DELTA, F, 6), TypeError, r"input_shape must be a tuple of 4 ints"),
    ("input_shape float", lambda: conv_bi(DELTA, F, (2, 3, 6.0, 6)), TypeError, r"input_shape must be an int"),
    ("input_shape zero", lambda: conv_bi(DELTA, F, (2, 3, 0, 6)), ValueError,
     r"input_shape must be \(N, C, H, W\) with N >= 0"),
    ("filter delta shape", lambda: conv_bf(DELTA, Z, 2), ValueError, r"delta must have shape \(2, 4, 5, 5\)"),
    ("filter batch", lambda: conv_bf(DELTA[:1], Z, 3), ValueError, r"delta must have shape \(2, 4, 4, 4\)"),
    ("pool y shape", lambda: pool_b(DY, Z, Y[:, :, :2], 2), ValueError, r"y must have shape \(2, 3, 3, 3\)"),
    ("pool delta shape", lambda: pool_b(DY[:1], Z, Y, 2), ValueError, r"delta must have shape \(2, 3, 3, 3\)"),
    ("act shapes", lambda: act_b(Z[:1], Z, "relu"), ValueError, r"delta must have shape \(2, 3, 6, 6\)"),
    ("affine J", lambda: aff_f(ZA, arr(5, 11)), ValueError, r"w must have shape \(5, 12\)"),
    ("affine b", lambda: aff_f(ZA, WA, arr(4)), ValueError, r"b must have shape \(5,\)"),
    ("affine input_shape J", lambda: aff_bi(DA, WA, (2, 3, 2, 3)), ValueError, r"w must have shape \(5, 18\)"),
    ("affine input_shape rank", lambda: aff_bi(DA, WA, (2, 12, 1)), ValueError, r"input_shape must have 2 or 4"),
    ("affine delta batch", lambda: aff_bi(DA, WA, (3, 12)), ValueError, r"delta must have shape \(3, 5\)"),
    ("affine weight batch", lambda: aff_bw(DA[:1], ZA), ValueError, r"delta must have shape \(2, 5\)"),
    # ---- geometry
    ("stride 0", lambda: conv_fwd(Z, F, stride=0), ValueError, r"stride must be >= 1 in both axes, got \(0, 0\)"),
    ("stride negative", lambda: conv_fwd(Z, F, stride=(1, -2)), ValueError, r"stride must be >= 1"),
    ("stride float", lambda: conv_fwd(Z, F, stride=1.0), TypeError, r"stride must be an int, got float"),
    ("stride triple", lambda: conv_fwd(Z, F, stride=(1, 1, 1)), ValueError, r"stride must be an int or a pair"),
    ("stride bool", lambda: conv_fwd(Z, F, stride=True), TypeError, r"stride must be an int, got bool"),
    ("padding negative", lambda: conv_fwd(Z, F, padding=-1), ValueError, r"padding must be >= 0"),
    ("no output", lambda: conv_fwd(arr(1, 3, 2, 6), F), ValueError,
     r"kernel height 3 does not fit in the padded input: input height 2 \+ padding 0 \+ 0 = 2 < 3"),
    ("no output bwd", lambda: conv_bf(DELTA, Z, 7), ValueError, r"kernel_size height 7 does not fit"),
    ("kernel_size zero", lambda: conv_bf(DELTA, Z, (0, 3)), ValueError, r"kernel_size must be >= 1"),
    ("window zero", lambda: pool_f(Z, 0), ValueError, r"window must be >= 1"),
    ("window too big", lambda: pool_f(Z, 7), ValueError, r"window height 7 does not fit"),
    ("pool stride", lambda: pool_f(Z, 2, stride=0), ValueError, r"stride must be >= 1"),
    ("pool padding", lambda: pool_f(Z, 2, padding=2), ValueError, r"padding must be smaller than the window"),
    # ---- options
    ("reduction", lambda: conv_bf(DELTA, Z, 3, reduction="avg"), ValueError,
     r"reduction must be one of \['mean', 'sum'\], got 'avg'"),
    ("reduction type", lambda: conv_bb(DELTA, reduction=None), TypeError, r"reduction must be a str"),
    ("affine reduction", lambda: aff_bb(DA, reduction="Mean"), ValueError, r"reduction must be one of"),
    ("ties", lambda: pool_b(DY, Z, Y, 2, ties="random"), ValueError, r"ties must be one of \['all', 'first'\]"),
    ("algorithm", lambda: conv_fwd(Z, F, algorithm="fft"), ValueError,
     r"algorithm must be one of \['auto', 'direct', 'fast', 'winograd'\], got 'fft'"),
    ("algorithm type", lambda: aff_f(ZA, WA, algorithm=None), TypeError, r"algorithm must be a str"),
    ("activation name", lambda: act_f(Z, "gelu"), ValueError, r"name must be one of .*'relu'"),
    ("activation param", lambda: act_f(Z, "relu", alpha=1.0), TypeError, r"'relu' takes no alpha"),
    ("activation wrong param", lambda: act_f(Z, "elu", negative_slope=0.1), TypeError, r"takes no negative_slope"),
    ("activation nan param", lambda: act_f(Z, "leaky_relu", negative_slope=np.nan), ValueError,
     r"negative_slope must be finite"),
    ("activation str param", lambda: act_f(Z, "elu", alpha="1"), TypeError, r"alpha must be a real number"),
    # ---- threads
    ("threads 0", lambda: conv_fwd(Z, F, num_threads=0), ValueError, r"num_threads must be None or >= 1, got 0"),
    ("threads negative", lambda: pool_f(Z, 2, num_threads=-1), ValueError, r"num_threads must be None or >= 1"),
    ("threads float", lambda: act_f(Z, "relu", num_threads=2.0), TypeError, r"num_threads must be an int"),
    ("threads huge", lambda: act_f(Z, "relu", num_threads=100000), ValueError, r"num_threads must be <= \d+"),
    ("threads 2**31", lambda: conv_fwd(Z, F, num_threads=2 ** 31), ValueError, r"num_threads must be <="),
    # ---- values whose index arithmetic would overflow 64 bits in the kernels
    ("stride huge", lambda: conv_fwd(Z, F, stride=(2 ** 62, 1)), ValueError, r"stride must be <= 2147483647"),
    ("padding huge", lambda: conv_fwd(Z, F, padding=(2 ** 63 - 1, 0)), ValueError, r"padding must be <="),
    ("window huge", lambda: pool_f(Z, (2 ** 40, 1)), ValueError, r"window must be <="),
    # ---- masks are not silently dropped
    ("masked", lambda: act_f(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "relu"), TypeError,
     r"z is a masked array"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_array_likes_of_floats_are_accepted():
    out = cnnprop.activation_forward([[1.0, -2.0]], "relu")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 0.0]])


def test_unaligned_arrays_are_copied_and_give_the_same_result():
    raw = np.zeros(Z.nbytes + 1, dtype=np.uint8)
    unaligned = raw[1:].view(np.float64).reshape(Z.shape)
    unaligned[...] = Z
    assert not unaligned.flags.aligned
    np.testing.assert_array_equal(conv_fwd(unaligned, F, B), conv_fwd(Z, F, B))


def test_inputs_are_not_modified(rng):
    z, f, b = Z.copy(), F.copy(), B.copy()
    conv_fwd(z, f, b)
    conv_bi(DELTA, f, z.shape)
    conv_bf(DELTA, z, 3)
    np.testing.assert_array_equal(z, Z)
    np.testing.assert_array_equal(f, F)


# --------------------------------------------------------------- fuzzing

_dtypes = st.sampled_from([np.float64, np.float32, np.int32, np.float16, np.bool_])
_shapes = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
_ints = st.one_of(st.integers(-2, 6), st.tuples(st.integers(-2, 6), st.integers(-2, 6)))


@st.composite
def _arrays(draw):
    return np.ones(draw(_shapes), dtype=draw(_dtypes))


@settings(max_examples=150)
@given(a=_arrays(), b=_arrays(), c=_arrays(), k=_ints, s=_ints, p=_ints,
       which=st.integers(0, 11), ties=st.sampled_from(["all", "first", "x"]))
def test_fuzzed_arguments_never_crash(a, b, c, k, s, p, which, ties):
    """Any combination of shapes, dtypes and geometry ends in a result or a clear error."""
    calls = [
        lambda: conv_fwd(a, b, None, s, p),
        lambda: conv_bi(a, b, c.shape, s, p),
        lambda: conv_bf(a, b, k, s, p),
        lambda: conv_bb(a),
        lambda: pool_f(a, k, s, p),
        lambda: pool_b(a, b, c, k, s, p, ties=ties),
        lambda: act_f(a, "elu"),
        lambda: act_b(a, b, "sigmoid"),
        lambda: aff_f(a, b, None),
        lambda: aff_bi(a, b, c.shape),
        lambda: aff_bw(a, b),
        lambda: aff_bb(a),
    ]
    try:
        calls[which]()
    except (TypeError, ValueError) as exc:
        assert str(exc)
