"""What digits_mlp.py and digits_cnn.py share: the 8x8 digits, a train/test split, and
minibatch SGD with a progress bar.

The digits are scikit-learn's bundled set (1797 handwritten 8x8 images, no download)
when scikit-learn is installed (pip install 'graphc[examples]'); otherwise a generated
set of the same shape: the ten digits of a 3x5 pixel font, each stretched to a random
size, placed at a random spot and given random ink and noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

FONT = {  # 3 columns x 5 rows per digit
    0: "111101101101111", 1: "010110010010111", 2: "111001111100111", 3: "111001111001111",
    4: "101101111001001", 5: "111100111001111", 6: "111100111101111", 7: "111001010010010",
    8: "111101111101111", 9: "111101111001111",
}


def generated_digits(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` 8x8 images in [0, 1] (float64) and their labels (int64)."""
    images = np.zeros((count, 8, 8))
    labels = rng.integers(0, 10, size=count)
    for image, label in zip(images, labels):
        glyph = np.array([int(c) for c in FONT[int(label)]], dtype=float).reshape(5, 3)
        h, w = rng.integers(7, 9), rng.integers(5, 7)
        top, left = rng.integers(0, 9 - h), rng.integers(0, 9 - w)
        image[top:top + h, left:left + w] = glyph[np.arange(h) * 5 // h][:, np.arange(w) * 3 // w]
        image *= rng.uniform(0.6, 1.0)
    images += rng.normal(0.0, 0.1, images.shape)
    return np.clip(images, 0.0, 1.0), labels.astype(np.int64)


def load_digits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (N, 8, 8) in [0, 1], labels (N,) int64, and where they come from."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        images, labels = generated_digits(1797, rng)
        return images, labels, "generated 8x8 digits (pip install scikit-learn for the real ones)"
    data = sklearn_digits()
    return data.images / 16.0, data.target.astype(np.int64), "scikit-learn's 8x8 handwritten digits"


def split(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
          test: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random train/test split: train images, train labels, test images, test labels."""
    order = rng.permutation(len(labels))
    cut = int(len(labels) * (1 - test))
    train, held = order[:cut], order[cut:]
    return images[train], labels[train], images[held], labels[held]


def sgd(step: Callable[..., Sequence[np.ndarray]], values: list[np.ndarray], x: np.ndarray, y: np.ndarray,
        epochs: int, batch: int, lr: float, rng: np.random.Generator, desc: str) -> list[float]:
    """Minibatch SGD in place on ``values``; ``step(x, y, *values)`` returns the loss and
    the gradients. Returns each epoch's mean loss."""
    means = []
    with tqdm(range(epochs), desc=desc, unit="epoch", leave=False, disable=None) as bar:  # on a terminal only
        for epoch in bar:
            order = rng.permutation(len(y))
            losses = []
            for start in range(0, len(y), batch):
                rows = order[start:start + batch]
                loss, *grads = step(x[rows], y[rows], *values)
                for v, g in zip(values, grads):
                    v -= lr * g
                losses.append(float(loss))
            means.append(float(np.mean(losses)))
            bar.set_postfix(loss=f"{means[-1]:.4f}")
            if epoch % max(1, epochs // 5) == 0 or epoch == epochs - 1:
                tqdm.write(f"  epoch {epoch:3d}  mean training loss {means[-1]:.4f}")
    return means


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def evaluate(predict: Callable[..., Sequence[np.ndarray]], values: list[np.ndarray],
             data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> float:
    """Print the training and test accuracy of ``predict(x, *values)``'s scores; return the test one."""
    x_train, y_train, x_test, y_test = data
    train_acc = accuracy(predict(x_train, *values)[0], y_train)
    test_acc = accuracy(predict(x_test, *values)[0], y_test)
    print(f"training accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")
    return test_acc
