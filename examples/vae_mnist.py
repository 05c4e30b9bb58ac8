"""A variational auto-encoder on MNIST, in the functional style: parameters are a dict of arrays, the
loss is a plain function of them, and `wengert.value_and_grad` differentiates it.

Model (Kingma and Welling): an encoder MLP maps an image x to q(z | x) = N(mu, diag(exp(log_var)));
z = mu + exp(log_var / 2) * eps with eps ~ N(0, I) (the reparameterisation trick, so the sample is
differentiable in the encoder's parameters); a decoder MLP maps z to 784 Bernoulli logits. The training
objective is the evidence lower bound, per image

    ELBO = E_q[log p(x | z)] - KL(q(z | x) || N(0, I)),

with the Bernoulli log-likelihood in the stable logits form x * l - softplus(l) and the Gaussian KL in
closed form. Adam (a few lines of numpy below) ascends it. Each epoch prints the training ELBO and
the ELBO on held-out digits (nats per image, higher is better); at the end a PNG with test digits,
their reconstructions and new digits decoded from z ~ N(0, I) is written to --out.

Run: PYTHONPATH=src python examples/vae_mnist.py [--epochs 15] [--latent 8] [--out vae_mnist.png]
(matplotlib is needed for the picture: the `plot` extra.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wengert as w
from wengert.data import load_mnist

Params = dict[str, np.ndarray]


def init_params(rng: np.random.Generator, hidden: int, latent: int) -> Params:
    """Encoder 784 -> hidden -> (mu, log_var) in R^latent; decoder latent -> hidden -> 784 logits."""

    def dense(n_in, n_out):
        return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32)

    zeros = lambda n: np.zeros(n, dtype=np.float32)
    return {
        "enc_w": dense(784, hidden),
        "enc_b": zeros(hidden),
        "mu_w": dense(hidden, latent) * 0.1,
        "mu_b": zeros(latent),
        "logvar_w": dense(hidden, latent) * 0.1,
        "logvar_b": zeros(latent),
        "dec_w": dense(latent, hidden),
        "dec_b": zeros(hidden),
        "out_w": dense(hidden, 784) * 0.1,
        "out_b": zeros(784),
    }


def encode(p: Params, x):
    """The parameters (mu, log_var) of q(z | x)."""
    h = w.relu(x @ p["enc_w"] + p["enc_b"])
    return h @ p["mu_w"] + p["mu_b"], h @ p["logvar_w"] + p["logvar_b"]


def decode(p: Params, z):
    """Bernoulli logits of the 784 pixels given z."""
    return w.relu(z @ p["dec_w"] + p["dec_b"]) @ p["out_w"] + p["out_b"]


def elbo(p: Params, x, eps):
    """The mean over the batch of a one-sample estimate of the ELBO (nats per image)."""
    mu, log_var = encode(p, x)
    z = mu + w.exp(0.5 * log_var) * eps
    logits = decode(p, z)
    log_lik = w.sum(x * logits - w.softplus(logits), axis=1)
    kl = 0.5 * w.sum(mu * mu + w.exp(log_var) - 1.0 - log_var, axis=1)
    return w.mean(log_lik - kl)


def negative_elbo(p: Params, x, eps):
    return -elbo(p, x, eps)


class Adam:
    """Adam on a dict of arrays (descent); its state mirrors the parameters' structure."""

    def __init__(self, params: Params, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999) -> None:
        self.lr, self.b1, self.b2, self.t = lr, b1, b2, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Params, grads: Params) -> Params:
        self.t += 1
        lr = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)  # bias corrections
        new = {}
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            new[k] = (params[k] - lr * self.m[k] / (np.sqrt(self.v[k]) + 1e-8)).astype(np.float32)
        return new


def evaluate(p: Params, x: np.ndarray, rng: np.random.Generator, batch: int = 1000) -> float:
    """The ELBO on x (one sample of z per image), without differentiation: plain numpy."""
    total = 0.0
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        eps = rng.standard_normal((len(xb), p["mu_b"].size)).astype(np.float32)
        total += float(elbo(p, xb, eps)) * len(xb)
    return total / len(x)


def save_figure(p: Params, x_test: np.ndarray, rng: np.random.Generator, path: str) -> None:
    """A picture of 20 test digits, their reconstructions (mean of q, then pixel probabilities) and
    30 digits decoded from z ~ N(0, I)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    originals = x_test[:: max(1, len(x_test) // 20)][:20]  # spread out: the test set is sorted by digit
    mu, _ = encode(p, originals)
    recon = np.asarray(w.sigmoid(decode(p, mu)))
    z = rng.standard_normal((30, p["mu_b"].size)).astype(np.float32)
    samples = np.asarray(w.sigmoid(decode(p, z)))

    def grid(images, rows, cols):
        tiles = images.reshape(rows, cols, 28, 28)
        return tiles.transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)

    fig, axes = plt.subplots(3, 1, figsize=(8, 6.6), gridspec_kw={"height_ratios": [2, 2, 3]})
    panels = [
        (grid(originals, 2, 10), "test digits"),
        (grid(recon, 2, 10), "reconstructions"),
        (grid(samples, 3, 10), "samples from the prior"),
    ]
    for ax, (image, title) in zip(axes, panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--latent", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="vae_mnist.png", help="where to save the PNG")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x_train, _, x_test, _ = load_mnist()
    params = init_params(rng, args.hidden, args.latent)
    opt = Adam(params, args.lr)
    loss_and_grad = w.value_and_grad(negative_elbo)
    print(
        f"VAE on {len(x_train)} MNIST digits: 784-{args.hidden}-{args.latent} encoder, mirrored decoder"
    )
    print("epoch | train ELBO | test ELBO | time (s)   (nats per image; higher is better)")
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x_train))
        total = 0.0
        for i in range(0, len(order), args.batch):
            xb = x_train[order[i : i + args.batch]]
            eps = rng.standard_normal((len(xb), args.latent)).astype(np.float32)
            loss, grads = loss_and_grad(params, xb, eps)
            params = opt.step(params, grads)
            total -= float(loss) * len(xb)
        test = evaluate(params, x_test, rng)
        elapsed = time.perf_counter() - start
        print(f"{epoch:5d} | {total / len(x_train):10.2f} | {test:9.2f} | {elapsed:8.1f}")
    try:
        save_figure(params, x_test, rng, args.out)
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no picture saved")
    else:
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
