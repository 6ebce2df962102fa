"""asv benchmarks of cnnprop: one class per layer family (see asv_benchmarks/README.md)."""
