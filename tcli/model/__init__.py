"""Model formats beyond the run's ONNX file (tc model export): convert, measure, record."""
