/* kl_div_p.h — C entry points of the kl_div kernels that compute the
 * unquantized side once per batch (kernels/kl_div.cu; src/backend/kl_cuda.c).
 * Plain C like kernels.h.
 *
 * lms_k_kl_prep: for each row r of zp (rows, V) bf16: mp[r] = fp32 row max,
 *   ep[r·V + v] = exp(zp − mp) in fp64, sp[r] = Σ_v ep (fp64).
 * lms_k_kl_accum_p: acc[r] += KL(softmax(zp[r]) ‖ softmax(zq[r])) from those
 *   and zq: bit-identical to lms_k_kl_div_accum(acc, zp, zq) (same
 *   operations in the same order), with one fp64 exp per element. */
#ifndef LMS_KERNELS_KL_DIV_P_H
#define LMS_KERNELS_KL_DIV_P_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

cudaError_t lms_k_kl_prep(cudaStream_t stream, double *ep, float *mp, double *sp,
			  const uint16_t *zp, long long rows, long long V);
cudaError_t lms_k_kl_accum_p(cudaStream_t stream, double *acc, const double *ep, const float *mp,
			     const double *sp, const uint16_t *zp, const uint16_t *zq,
			     long long rows, long long V);

#ifdef __cplusplus
}
#endif
#endif
