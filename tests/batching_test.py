"""The one batching policy: bucket sizes, padded chunks that cover every example once, results without padding."""

import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from lowrank_jax import batching


class BatchingTest(absltest.TestCase):

  def test_bucket_sizes(self):
    got = {n: batching.bucket_size(n, 256) for n in (1, 5, 8, 9, 17, 32, 33, 100, 250, 256)}
    self.assertEqual(got, {1: 8, 5: 8, 8: 8, 9: 16, 17: 32, 32: 32, 33: 64, 100: 128, 250: 256, 256: 256})
    self.assertEqual(batching.bucket_size(100, 100), 100)  # never above the batch size
    self.assertEqual(batching.bucket_size(3, 4), 4)
    fine = {n: batching.bucket_size(n, 256, fine=True) for n in (1, 8, 9, 23, 64, 65, 100)}
    self.assertEqual(fine, {1: 8, 8: 8, 9: 16, 23: 24, 64: 64, 65: 96, 100: 128})  # multiples of 8 up to 64

  def test_chunks_cover_each_index_once_and_pad_with_the_first(self):
    idx = np.array([7, 3, 11, 2, 9, 4, 5, 6, 1, 0, 8])
    seen = []
    for chunk, padded in batching.chunks(idx, 4):
      self.assertEqual(len(padded), batching.bucket_size(len(chunk), 4))
      np.testing.assert_array_equal(padded[:len(chunk)], chunk)
      self.assertTrue(np.all(padded[len(chunk):] == chunk[0]))
      seen += chunk.tolist()
    self.assertEqual(seen, idx.tolist())
    sizes = [len(p) for _, p in batching.chunks(10, 4, fixed=True)]
    self.assertEqual(sizes, [4, 4, 4])

  def test_map_batches_equals_the_whole_call_without_padding_rows(self):
    x = np.random.default_rng(0).normal(size=(37, 3)).astype(np.float32)
    calls = []

    def fn(a, b):
      calls.append(a.shape[0])
      return {"sum": a.sum(-1) + b, "double": 2 * a}

    b = np.arange(37, dtype=np.float32)
    idx = np.array([30, 1, 2, 36, 5])
    out = batching.map_batches(fn, (x, b), 16, idx=idx)
    np.testing.assert_allclose(out["sum"], x[idx].sum(-1) + b[idx], rtol=1e-6)
    np.testing.assert_allclose(out["double"], 2 * x[idx])
    self.assertEqual(calls, [8])  # 5 active rows padded to one bucket of 8
    whole = batching.map_batches(lambda a: jnp.tanh(a), (x,), 16)
    np.testing.assert_allclose(whole, np.tanh(x), rtol=1e-6)
    empty = batching.map_batches(lambda a: jnp.tanh(a), (x,), 16, idx=np.zeros(0, int))
    self.assertEqual(empty.shape, (0, 3))

  def test_predict_is_the_argmax(self):
    x = np.random.default_rng(1).normal(size=(21, 4)).astype(np.float32)
    W = np.random.default_rng(2).normal(size=(4, 5)).astype(np.float32)
    got = batching.predict(lambda z: z @ W, x, 8)
    np.testing.assert_array_equal(got, np.argmax(x @ W, -1))


if __name__ == "__main__":
  absltest.main()
