"""sentseg-torch: the bridge from sentseg's SQLite manifest and label bank to PyTorch DDP training,
writing run folders that the TypeScript `sentseg eval`, `predict` and `train --resume` read."""

__version__ = "0.1.0"
