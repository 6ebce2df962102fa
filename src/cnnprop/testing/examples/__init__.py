"""Ready implementations to verify, and to copy from.

:mod:`.numpy_im2col`
    A plain NumPy im2col implementation of convolution, max pooling, three
    activations and the affine layer, with its adapters
    (``cnnprop verify --target numpy``).
"""
