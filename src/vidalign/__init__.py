"""vidalign: self-supervised video alignment and unsupervised action segmentation."""

__version__ = "0.1.0"
