"""PyTorch's classic MNIST example (pytorch/examples, mnist/main.py), ported to wengert line by line.

The network, loss, optimiser, schedule, command-line options and printed lines are those of the
PyTorch script: two 3x3 convolutions (32 and 64 channels) with ReLU, 2x2 max pooling, dropout 0.25,
a 9216-128 linear layer with ReLU, dropout 0.5, a 128-10 layer and log-softmax; the negative
log-likelihood loss; Adadelta with lr 1.0 and the rate times 0.7 after every epoch. What differs:

- the data are the digits bundled with wengert (8,000 training and 2,000 test images; no download),
  normalised with the same mean 0.1307 and standard deviation 0.3081 as torchvision's transform;
- wengert has no Adadelta, so the script defines it below (PyTorch's update rule, in a dozen lines
  on `wengert.optim.Optimizer`) -- the way to add any optimiser;
- there is no device to choose (wengert runs on numpy), and the model is saved with `wengert.save`
  (a zip of .npy arrays, no pickle) instead of `torch.save`.

Run (one epoch takes a while on a laptop CPU; --dry-run checks the whole program in seconds):

    python examples/mnist_cnn.py [--epochs 14] [--dry-run] [--save-model]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

import wengert
from wengert import nn, optim
from wengert.data import DataLoader, load_mnist

F = nn.functional


class Net(nn.Module):
    def __init__(self, seed=None):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.conv1 = nn.Conv2d(1, 32, 3, 1, seed=rng)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, seed=rng)
        self.dropout1 = nn.Dropout(0.25, seed=rng)
        self.dropout2 = nn.Dropout(0.5, seed=rng)
        self.fc1 = nn.Linear(9216, 128, init="torch", seed=rng)
        self.fc2 = nn.Linear(128, 10, init="torch", seed=rng)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = wengert.reshape(x, (x.shape[0], -1))  # torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, axis=1)
        return output


class Adadelta(optim.Optimizer):
    """Zeiler's Adadelta as PyTorch defines it: v <- rho v + (1 - rho) g^2;
    d <- sqrt(u + eps) / sqrt(v + eps) g;  u <- rho u + (1 - rho) d^2;  p <- p - lr d."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def step(self):
        with wengert.no_grad():  # the update itself is not differentiated
            for group in self.param_groups:
                lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad.numpy()
                    if wd:
                        g = g + wd * p.numpy()
                    s = self.state.setdefault(id(p), {})
                    if not s:
                        s["square_avg"], s["acc_delta"] = np.zeros_like(g), np.zeros_like(g)
                    v, u = s["square_avg"], s["acc_delta"]
                    v *= rho
                    v += (1 - rho) * g * g
                    delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
                    u *= rho
                    u += (1 - rho) * delta * delta
                    p -= lr * delta  # in place: the optimizer's tensor is the model's


def train(args, model, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(wengert.tensor(data))
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            done = batch_idx * len(data)
            print(
                f"Train Epoch: {epoch} [{done}/{train_loader.num_samples} "
                f"({100.0 * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.6f}"
            )
            if args.dry_run:
                break


def test(model, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with wengert.no_grad():
        for data, target in test_loader:
            output = model(wengert.tensor(data))
            test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.numpy().argmax(axis=1)  # index of the max log-probability
            correct += int((pred == target).sum())
    n = test_loader.num_samples
    test_loss /= n
    print(
        f"\nTest set: Average loss: {test_loss:.4f}, "
        f"Accuracy: {correct}/{n} ({100.0 * correct / n:.0f}%)\n"
    )
    return correct / n


def main(argv=None):
    # Training settings
    parser = argparse.ArgumentParser(description="wengert MNIST Example")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        metavar="N",
        help="input batch size for training (default: 64)",
    )
    parser.add_argument(
        "--test-batch-size",
        type=int,
        default=1000,
        metavar="N",
        help="input batch size for testing (default: 1000)",
    )
    parser.add_argument(
        "--epochs", type=int, default=14, metavar="N", help="number of epochs to train (default: 14)"
    )
    parser.add_argument(
        "--lr", type=float, default=1.0, metavar="LR", help="learning rate (default: 1.0)"
    )
    parser.add_argument(
        "--gamma", type=float, default=0.7, metavar="M", help="Learning rate step gamma (default: 0.7)"
    )
    parser.add_argument("--dry-run", action="store_true", help="quickly check a single pass")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: 1)")
    parser.add_argument(
        "--log-interval",
        type=int,
        default=10,
        metavar="N",
        help="how many batches to wait before logging training status",
    )
    parser.add_argument("--save-model", action="store_true", help="For Saving the current Model")
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_mnist()
    # transforms.ToTensor() then transforms.Normalize((0.1307,), (0.3081,)), as images (N, 1, 28, 28)
    x_train = ((x_train - 0.1307) / 0.3081).astype(np.float32).reshape(-1, 1, 28, 28)
    x_test = ((x_test - 0.1307) / 0.3081).astype(np.float32).reshape(-1, 1, 28, 28)
    train_loader = DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(x_test, y_test, batch_size=args.test_batch_size)

    model = Net(seed=args.seed)
    optimizer = Adadelta(model.parameters(), lr=args.lr)

    scheduler = optim.StepLR(optimizer, step_size=1, gamma=args.gamma)
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        train(args, model, train_loader, optimizer, epoch)
        accuracy = test(model, test_loader)
        scheduler.step()
        if args.dry_run:
            break

    if args.save_model:
        wengert.save(model.state_dict(), "mnist_cnn.wgt")
    return accuracy


if __name__ == "__main__":
    main()
