"""``numtorch.models``: plain ``Module``s, from the two-layer net to ResNet, DenseNet, GPT and a detector."""
