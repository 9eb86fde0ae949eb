"""depth3d.detection: box geometry (oriented IoU, NMS), decoding of VoteNet outputs, VOC-style AP,
synthetic scans and the ``detect`` pipeline."""
