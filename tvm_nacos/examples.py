"""Small example networks, used by the quick start, the tutorials, the tests and the benchmarks.

``example_supernet()`` is a PyTorch CNN with three choice points, one of them conditional:

- ``block1.op``: a 3×3 convolution, a 5×5 convolution, or a depthwise-separable 3×3;
- ``block2.depth``: ``keep`` the second block or ``skip`` it (depth choice);
- ``block2.kernel``: the kernel of the second block, 3 or 5, which exists only when the block
  is kept.

That is 3 × (2 + 1) = 9 architectures.

``trained_example_cnn(data)`` is the plain CNN of ``tutorials/search_your_trained_model.py`` (a stem,
two residual blocks with batch norm, a classifier) trained for seconds on the 8×8 digits: a
trained model to expose NAS moves on.
"""

from __future__ import annotations

from typing import Any

#: Input shape of the example supernet (batch, channels, height, width).
EXAMPLE_INPUT_SHAPE = (1, 3, 16, 16)


def _conv_bn_relu(torch_nn: Any, c_in: int, c_out: int, kernel: int, groups: int = 1) -> Any:
    return torch_nn.Sequential(
        torch_nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False),
        torch_nn.BatchNorm2d(c_out),
        torch_nn.ReLU(),
    )


def example_supernet(channels: int = 8, num_classes: int = 10, seed: int = 0) -> Any:
    """Build the example supernet with deterministic random weights.

    Parameters
    ----------
    channels : int
        Width of both blocks.
    num_classes : int
        Outputs of the classifier.
    seed : int
        Seed of the weight initialization (batch-norm statistics included).

    Returns
    -------
    torch.nn.Module
        The supernet, in eval mode.
    """
    import torch
    from torch import nn

    from tvm_nacos.frontend.torch import Choice

    class ExampleSupernet(nn.Module):
        """stem → block1 (op choice, residual) → block2 (depth and kernel choices) → classifier."""

        def __init__(self) -> None:
            super().__init__()
            c = channels
            self.stem = _conv_bn_relu(nn, 3, c, 3)
            self.block1 = Choice(
                "block1.op",
                {
                    "conv3x3": _conv_bn_relu(nn, c, c, 3),
                    "conv5x5": _conv_bn_relu(nn, c, c, 5),
                    "dwsep3x3": nn.Sequential(
                        _conv_bn_relu(nn, c, c, 3, groups=c), _conv_bn_relu(nn, c, c, 1)
                    ),
                },
            )
            kernel = Choice("block2.kernel", {"k3": _conv_bn_relu(nn, c, c, 3), "k5": _conv_bn_relu(nn, c, c, 5)})
            self.block2 = Choice("block2.depth", {"keep": kernel, "skip": nn.Identity()})
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(c, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            x = x + self.block1(x)
            x = self.block2(x)
            return self.head(torch.flatten(self.pool(x), 1))

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = ExampleSupernet()
        # Non-trivial batch-norm statistics, so that folding or dropping them would show.
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.5, 0.5)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


def example_input(seed: int = 0) -> Any:
    """A deterministic input batch of :data:`EXAMPLE_INPUT_SHAPE`."""
    import torch

    return torch.randn(*EXAMPLE_INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))


def trained_example_cnn(data: Any, *, epochs: int = 6, seed: int = 0, pool: bool = False) -> Any:
    """The tutorial's CNN trained on ``data``.

    Parameters
    ----------
    data : ImageData
        One-channel 8×8 images of 10 classes, e.g.
        ``tvm_nacos.accuracy.load_digits_data(resolution=8, channels=1)``.
    epochs : int
        Passes of Adam (lr 0.01, batches of 64) over the training split; 0 leaves the weights
        random.
    seed : int
        Seed of the weights and the batch order.
    pool : bool
        A 2×2 max pool between the two blocks.

    Returns
    -------
    torch.nn.Module
        The model, in eval mode.
    """
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU())
            middle = [nn.MaxPool2d(2)] if pool else []
            self.blocks = nn.Sequential(Block(16), *middle, Block(16))
            self.head = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = SmallCNN()
    finally:
        torch.random.set_rng_state(generator_state)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for images, labels in data.batches(64, generator=generator):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
    return model.eval()
