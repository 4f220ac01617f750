"""``numtorch.models.detection``: a single-stage detector."""
