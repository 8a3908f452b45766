"""LeNet-5 (LeCun et al., 1998) for 1x32x32 inputs.

Two 5x5 convolutions with tanh and 2x2 average pooling (the paper's subsampling layers), then three dense
layers 400 -> 120 -> 84 -> 10.
"""

from __future__ import annotations

from torch import Tensor, nn

#: per-sample input shape (channels, height, width)
INPUT_SHAPE: tuple[int, int, int] = (1, 32, 32)


class LeNet5(nn.Module):
    """LeNet-5: ``features`` (conv, tanh, pool, conv, tanh, pool) and ``classifier`` (three dense layers)."""

    input_shape = INPUT_SHAPE

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5),  # 32x32 -> 28x28
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # -> 14x14
            nn.Conv2d(6, 16, kernel_size=5),  # -> 10x10
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # -> 5x5
        )
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


def lenet(num_classes: int = 10) -> LeNet5:
    """A randomly initialised LeNet-5."""
    return LeNet5(num_classes=num_classes)
