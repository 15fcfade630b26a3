"""A small program to explain: `python -m shrimpgrad explain examples/explain_me.py` (add --html report.html).

A two-layer step of a tiny classifier: every line below that makes a Tensor shows up in the generated C and
CUDA as `| from <method> at explain_me.py:<line>` comments."""

import numpy as np

from shrimpgrad import Tensor

rng = np.random.default_rng(0)
x = Tensor(rng.standard_normal((8, 4)).astype(np.float32))
w = Tensor(rng.standard_normal((4, 3)).astype(np.float32) * 0.5, requires_grad=True)
logits = (x @ w).relu()
probs = logits.softmax(axis=1)
loss = -(probs + 1e-6).log().mean()
loss.backward()
w.assign(w.detach() - 0.1 * w.grad)
print(f"loss {loss.item():.4f}, updated weights {w.numpy().shape}")
