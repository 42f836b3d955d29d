"""Weight-file readers and converters: TF2 checkpoints and PaddleVideo .pdparams to PyTorch."""
