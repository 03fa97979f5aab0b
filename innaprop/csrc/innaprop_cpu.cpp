// The fused INNAprop step on the CPU: every tensor of a bucket in one call,
// one pass over memory per element (_cpu_innaprop.py builds, loads and
// documents it).
//
// For each tensor, with its step count k incremented here and b = 1 - sigma^k
// (both in double, as the Python paths compute them):
//     v     <- sigma v + (1 - sigma) g^2
//     psi   <- psi_keep psi + psi_take theta
//     theta <- c_theta theta - c_psi psi - (c_grad sqrt(b)) g / (sqrt(v) + eps sqrt(b))
// in the order of the reference's arithmetic (innaprop.py), in the tensors'
// own precision (float or double). Built without FMA contraction, so that
// each operation rounds as torch's own kernels do.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace {

// Elements below which a tensor is updated by one thread (torch's own
// at::internal::GRAIN_SIZE): waking the others would cost more.
constexpr int64_t kGrain = 32768;

// at::parallel_for is a header template over OpenMP in torch's builds:
// compiled without -fopenmp it silently runs on one thread, which halved
// this step's speed (_cpu_innaprop.py builds with it where it can).

template <typename T>
void update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ v,
            T* __restrict__ psi, int64_t n, T sigma, T one_minus_sigma,
            T psi_keep, T psi_take, T c_theta, T c_psi, T eps, T c_grad) {
  // Plain loops that the compiler vectorises (-O3, -fno-math-errno).
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T vi = v[i] * sigma + one_minus_sigma * (gi * gi);
    const T scaled = gi / (std::sqrt(vi) + eps);
    const T psii = psi[i] * psi_keep + psi_take * p[i];
    T pi = p[i] * c_theta - c_psi * psii;
    p[i] = pi - c_grad * scaled;
    v[i] = vi;
    psi[i] = psii;
  }
}

bool dense_like(const at::Tensor& t, const at::Tensor& ref) {
  return t.is_cpu() && t.scalar_type() == ref.scalar_type() &&
         t.sizes() == ref.sizes() && t.strides() == ref.strides() &&
         t.is_non_overlapping_and_dense();
}

// Updates the tensors it can take as flat arrays (the four of a parameter
// on the CPU, float or double, sharing one dense layout) and returns the
// indices of the others, which it leaves untouched, step counts included.
// coefs: sigma, psi_keep, psi_take, c_theta, c_psi, eps, c_grad.
std::vector<int64_t> step(at::TensorList params, at::TensorList grads,
                          at::TensorList exp_avg_sqs, at::TensorList psis,
                          at::TensorList steps, at::ArrayRef<double> coefs) {
  TORCH_CHECK(coefs.size() == 7, "innaprop_cpu.step: 7 coefficients");
  const int64_t n = params.size();
  TORCH_CHECK(grads.size() == n && exp_avg_sqs.size() == n &&
                  psis.size() == n && steps.size() == n,
              "innaprop_cpu.step: lists of different lengths");
  const double sigma = coefs[0];
  std::vector<int64_t> rest;
  for (int64_t t = 0; t < n; ++t) {
    const at::Tensor& p = params[t];
    const auto dtype = p.scalar_type();
    const bool ok = p.is_cpu() && p.is_non_overlapping_and_dense() &&
                    (dtype == at::kFloat || dtype == at::kDouble) &&
                    dense_like(grads[t], p) && dense_like(exp_avg_sqs[t], p) &&
                    dense_like(psis[t], p) && steps[t].is_cpu() &&
                    steps[t].numel() == 1 &&
                    (steps[t].scalar_type() == at::kFloat ||
                     steps[t].scalar_type() == at::kDouble);
    if (!ok) {
      rest.push_back(t);
      continue;
    }
    // The step count, incremented as the Python paths do (k += 1).
    double k;
    if (steps[t].scalar_type() == at::kFloat) {
      float* s = steps[t].data_ptr<float>();
      *s += 1.0f;
      k = *s;
    } else {
      double* s = steps[t].data_ptr<double>();
      *s += 1.0;
      k = *s;
    }
    const double sqrt_bc = std::sqrt(1.0 - std::pow(sigma, k));
    const double eps_k = coefs[5] * sqrt_bc, c_grad_k = coefs[6] * sqrt_bc;
    AT_DISPATCH_FLOATING_TYPES(dtype, "innaprop_cpu", [&] {
      using T = scalar_t;
      T* pp = p.data_ptr<T>();
      const T* gg = grads[t].data_ptr<T>();
      T* vv = exp_avg_sqs[t].data_ptr<T>();
      T* ss = psis[t].data_ptr<T>();
      // Each thread takes one contiguous range of the tensor.
      at::parallel_for(0, p.numel(), kGrain, [&](int64_t lo, int64_t hi) {
        update<T>(pp + lo, gg + lo, vv + lo, ss + lo, hi - lo,
                  static_cast<T>(sigma), static_cast<T>(1.0 - sigma),
                  static_cast<T>(coefs[1]), static_cast<T>(coefs[2]),
                  static_cast<T>(coefs[3]), static_cast<T>(coefs[4]),
                  static_cast<T>(eps_k), static_cast<T>(c_grad_k));
      });
    });
  }
  return rest;
}

// How many threads the step's parallel loop runs on for n elements: what
// this build of the kernel gets from torch's thread pool (tests, benchmark).
int64_t threads(int64_t n) {
  std::vector<char> used(at::get_num_threads(), 0);
  at::parallel_for(0, n, kGrain, [&](int64_t, int64_t) {
    used[at::get_thread_num()] = 1;
  });
  int64_t count = 0;
  for (char u : used) count += u;
  return count;
}

}  // namespace

TORCH_LIBRARY(innaprop_cpu, m) {
  m.def("step(Tensor(a!)[] params, Tensor[] grads, "
        "Tensor(b!)[] exp_avg_sqs, Tensor(c!)[] psis, Tensor(d!)[] steps, "
        "float[] coefs) -> int[]");
  m.def("threads(int n) -> int", &threads);
}

TORCH_LIBRARY_IMPL(innaprop_cpu, CompositeExplicitAutograd, m) {
  m.impl("step", &step);
}
