/* backend.h — the op table that the engine is written against, implemented
 * once in plain C (src/backend/cpu*.c, the reference) and once in CUDA
 * (src/backend/<name>_cuda.c + kernels/<op>.cu).
 *
 * Conventions shared by every op (the contract a new backend must meet):
 *
 * - Tensors are raw pointers into backend memory (host memory for the CPU
 *   backend, device memory for CUDA; host code names them d_…) with explicit
 *   shapes. Layout is row-major (C order), the last dimension contiguous.
 *   Dimension letters (as in src/model/model.h):
 *     B batch, T sequence, N = B·T tokens, C hidden, F intermediate,
 *     H query heads, G kv heads (H % G == 0), D head_dim, V vocabulary.
 *   q is (B, T, H, D) == (N, H·D): the q_proj output reshaped, no transpose;
 *   k, v are (B, T, G, D). A linear weight is (out, in), y = x · Wᵀ.
 * - Dtypes: activations, weights and activation gradients are bf16 storage
 *   (lms_bf16 = uint16_t, core/numeric.h); fp32 where stated (RMSNorm 1/rms,
 *   attention logsumexp, per-row losses, amax); fp64 for score accumulators;
 *   token ids, labels and the attention mask are int32.
 * - Arithmetic is fp32. Every bf16 output is rounded once, round-to-nearest-
 *   even, at the points HF transformers rounds in a bf16 run
 *   (shared/reference/qwen3-vl-lm.md §3.7); each op states its points. The
 *   backward ops round where PyTorch autograd of that bf16 graph rounds.
 * - Outputs are OVERWRITTEN unless the op says it accumulates (gemm with
 *   beta = 1, absmax_rows with accumulate = 1, sq_dot_accum and
 *   kl_div_accum always).
 *   Unless stated, an output must not alias an input; ops that allow in-place
 *   use (out == in) say so.
 * - Ops never allocate. Scratch is passed in: the attention ops take a
 *   workspace of attention_workspace() bytes. Ops run in order on the
 *   backend's stream (ctx holds it; side_begin .. side_end below moves ops
 *   to a second one); results are visible to the host after memcpy_d2h or
 *   sync.
 * - Ops return LMS_OK, or an error recorded with lms_fail() (bad shape, a
 *   kernel launch or library failure). They do not validate the contents
 *   of tensors (ids are range-checked by the engine on the host).
 * - A backend may leave a slot NULL: lms_backend_supports() then says 0 and
 *   callers must not call it (the engine checks once, at init).
 *
 * What this file does not do: choose a backend from the config (the caller
 * does, through lms_backend_init), know about layers or hooks (src/engine/),
 * or define quantizer formats (src/quant/ owns struct lms_quant_desc).
 *
 * Ownership: struct lms_backend is created by lms_backend_init / the
 * backend's own _init and freed with lms_backend_free; memory from ops.alloc
 * is freed with ops.free on the same backend. */
#ifndef LMS_BACKEND_BACKEND_H
#define LMS_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/numeric.h"
#include "core/status.h"

/* Every slot of struct lms_backend_ops, for lms_backend_supports(). */
enum lms_backend_op {
	LMS_OP_ALLOC = 0, /* alloc, free, memcpy_*, memset, sync: mandatory */
	LMS_OP_GEMM,
	LMS_OP_EMBEDDING,
	LMS_OP_RMSNORM_FORWARD,
	LMS_OP_RMSNORM_BACKWARD,
	LMS_OP_ROPE_FORWARD,
	LMS_OP_ROPE_BACKWARD,
	LMS_OP_ATTENTION_FORWARD,
	LMS_OP_ATTENTION_BACKWARD,
	LMS_OP_SWIGLU_FORWARD,
	LMS_OP_SWIGLU_BACKWARD,
	LMS_OP_ADD,
	LMS_OP_CROSS_ENTROPY,
	LMS_OP_ABSMAX_ROWS,
	LMS_OP_SQ_DOT_ACCUM,
	LMS_OP_FAKE_QUANT,
	LMS_OP_KL_DIV_ACCUM,
	LMS_OP_COUNT
};

/* Short stable name of an op ("gemm", "rmsnorm_forward", ...). */
const char *lms_backend_op_name(enum lms_backend_op op);

/* Output type of a GEMM (named apart from src/model/'s enum lms_dtype of
 * checkpoint dtypes). */
enum lms_gemm_out {
	LMS_GEMM_OUT_BF16 = 0,
	LMS_GEMM_OUT_F32 = 1,
};

/* GEMM, row-major:  C = alpha · op(A) · op(B) + beta · C,
 *   op(A) is (m, k): A[i·lda + p] when trans_a == 0, A[p·lda + i] when 1;
 *   op(B) is (k, n): B[p·ldb + j] when trans_b == 0, B[j·ldb + p] when 1;
 *   C is (m, n):     C[i·ldc + j], type c_dtype.
 * A and B are bf16; products are accumulated in fp32 (the order is the
 * backend's own: CPU and CUDA differ by accumulation-order noise). The result
 * alpha·acc + beta·C_old is formed in fp32 and, for a bf16 C, rounded once.
 * beta is 0 (C overwritten; C_old never read, may hold NaN) or 1 (C
 * accumulated). Batches: for b < batch, A + b·stride_a, B + b·stride_b,
 * C + b·stride_c (strides in elements; ignored when batch == 1).
 *
 * The engine's two uses (W is (out, in) bf16):
 *   linear forward   Y(M,out) = X(M,in) · Wᵀ : A = X, B = W, trans_b = 1
 *   linear backward dX(M,in) = dY(M,out) · W : A = dY, B = W, trans_b = 0
 * (no weight gradient is ever needed). */
struct lms_gemm_args {
	int m, n, k;
	const lms_bf16 *d_a;
	int lda, trans_a;
	const lms_bf16 *d_b;
	int ldb, trans_b;
	void *d_c;
	int ldc;
	enum lms_gemm_out c_dtype;
	float alpha, beta;
	int batch;
	int64_t stride_a, stride_b, stride_c;
};

/* Shape of one attention call. Causal GQA: query head h reads kv head
 * h / (H / G); key j is visible to query i iff j <= i and mask[b, j] != 0.
 * scale is the score multiplier (head_dim^-0.5). */
struct lms_attn_dims {
	int B, T, H, G, D;
	float scale;
};

/* What the fused RMSNorm slots (rmsnorm_forward_ex, rmsnorm_backward_ex)
 * do around the norm; NULL members: nothing. Each is the same operations
 * in the same order as the plain ops it stands for, so the same bits.
 *   add:      forward  sum = bf16(x + add) is normalized and written to
 *                      sum_out (= add(sum_out, x, add), then the norm);
 *             backward the norm's dy is bf16(dy + add) (= add(dy, dy, add)).
 *   residual: backward dx = bf16(residual + dx) (= add(dx, residual, dx)).
 *   cos, sin: RoPE on rows of one head (rows = N·heads, n = D): forward
 *             rope_forward of the output, backward rope_backward of dy
 *             before the norm (the tables as for rope_forward). */
struct lms_norm_fuse {
	const lms_bf16 *add;
	lms_bf16 *sum_out;
	const lms_bf16 *residual;
	const lms_bf16 *cos, *sin;
	int heads;
};

/* Marks of the side stream (side_end / side_join below). */
#define LMS_SIDE_SLOTS 8

/* Opaque quantizer descriptor owned by src/quant/ (see fake_quant below). */
struct lms_quant_desc;

struct lms_backend_ops {
	/* ---- memory (mandatory) ------------------------------------------ */
	/* New memory, contents undefined, aligned to at least 256 bytes; freed
	 * with free(). *d_out is NULL on failure (LMS_ERR_NOMEM with the size in
	 * the message). bytes == 0 gives NULL and LMS_OK. */
	enum lms_status (*alloc)(void *ctx, size_t bytes, void **d_out);
	void (*free)(void *ctx, void *d_ptr); /* NULL-safe */
	enum lms_status (*memcpy_h2d)(void *ctx, void *d_dst, const void *src, size_t bytes);
	enum lms_status (*memcpy_d2h)(void *ctx, void *dst, const void *d_src, size_t bytes);
	enum lms_status (*memcpy_d2d)(void *ctx, void *d_dst, const void *d_src, size_t bytes);
	enum lms_status (*memset)(void *ctx, void *d_dst, int byte, size_t bytes);
	/* Waits until every op issued so far has finished. */
	enum lms_status (*sync)(void *ctx);

	/* ---- GEMM ---------------------------------------------------------- */
	enum lms_status (*gemm)(void *ctx, const struct lms_gemm_args *args);

	/* ---- embedding gather ---------------------------------------------
	 * out(N, C)[n] = table(V, C)[ids[n]] (bf16 copy, no scaling).
	 * ids must lie in [0, V) — the engine checks on the host. */
	enum lms_status (*embedding)(void *ctx, lms_bf16 *d_out, const lms_bf16 *d_table,
				     const int32_t *d_ids, int N, int C, int V);

	/* ---- RMSNorm over the last dim n of x (rows, n) ---------------------
	 * Forward, HF order (§3.3):  r = 1/sqrt(mean_fp32(x²) + eps),
	 *   out = bf16( w · bf16(x·r) ).
	 * d_rstd (rows) fp32 receives r; may be NULL (not stored).
	 * Used for input/post/final norms (rows = N, n = C) and q/k norms
	 * (rows = N·H or N·G, n = D, one weight vector shared by all heads).
	 * In-place (out == x) allowed. */
	enum lms_status (*rmsnorm_forward)(void *ctx, lms_bf16 *d_out, float *d_rstd,
					   const lms_bf16 *d_x, const lms_bf16 *d_w, int rows,
					   int n, float eps);
	/* Backward of dx only (no weight gradient), autograd order:
	 *   g = bf16(dy · w);  x̂ = x·r (fp32, not rounded);
	 *   dx = bf16( r · (g − x̂ · mean(g · x̂)) ).
	 * d_rstd may be NULL: r is then recomputed from x. dx overwritten;
	 * dx == dy allowed. The residual gradient is added by the caller (add). */
	enum lms_status (*rmsnorm_backward)(void *ctx, lms_bf16 *d_dx, const lms_bf16 *d_dy,
					    const lms_bf16 *d_x, const lms_bf16 *d_w,
					    const float *d_rstd, int rows, int n, float eps);

	/* ---- RoPE, half-split ("rotate_half"), in place --------------------
	 * x is (N, nh, D), D even, half = D/2; cos/sin are (N, half) bf16
	 * tables (already rounded to bf16 as HF does; the engine builds them
	 * from positions and theta). For i < half, c = cos[n, i], s = sin[n, i]:
	 *   x'[i]      = bf16( bf16(x[i]·c)      − bf16(x[i+half]·s) )
	 *   x'[i+half] = bf16( bf16(x[i+half]·c) + bf16(x[i]·s) )
	 * Backward (rotation by −θ), on dx in place:
	 *   dx[i]      = bf16( bf16(dy[i]·c)      + bf16(dy[i+half]·s) )
	 *   dx[i+half] = bf16( bf16(dy[i+half]·c) − bf16(dy[i]·s) ) */
	enum lms_status (*rope_forward)(void *ctx, lms_bf16 *d_x, const lms_bf16 *d_cos,
					const lms_bf16 *d_sin, int N, int nh, int D);
	enum lms_status (*rope_backward)(void *ctx, lms_bf16 *d_dx, const lms_bf16 *d_cos,
					 const lms_bf16 *d_sin, int N, int nh, int D);

	/* ---- causal GQA attention with a padding mask ----------------------
	 * Bytes of workspace the two attention ops need for dims (the same
	 * workspace serves both; the caller allocates it once). */
	size_t (*attention_workspace)(void *ctx, const struct lms_attn_dims *dims);
	/* Forward, HF eager bf16 semantics:
	 *   S[i,j] = bf16( bf16(q_i · k_j) · scale ) for visible j;
	 *   P = softmax_j(S) in fp32;  out_i = bf16( Σ_j bf16(P[i,j]) · v_j ).
	 * A query row with no visible key (left padding: a pad query sees only
	 * pad keys) gets out_i = 0, as PyTorch ≥ 2.5 SDPA (HF's default
	 * attention) returns; its lse is -INFINITY.
	 * q (B,T,H,D), k, v (B,T,G,D), out (B,T,H,D), mask (B,T) int32 (0 = pad).
	 * d_lse (B,H,T) fp32 receives the row logsumexp of S (read by backward;
	 * a backend may instead recompute it, but must accept it). */
	enum lms_status (*attention_forward)(void *ctx, lms_bf16 *d_out, float *d_lse,
					     const lms_bf16 *d_q, const lms_bf16 *d_k,
					     const lms_bf16 *d_v, const int32_t *d_mask,
					     const struct lms_attn_dims *dims, void *d_work,
					     size_t work_bytes);
	/* Backward, autograd of the eager graph, bf16 where autograd rounds:
	 *   dPb = bf16(dO · vᵀ);  dV_h = bf16(bf16(P)ᵀ · dO)
	 *   dS = bf16( P ⊙ (dPb − Σ_j P·dPb) ) (fp32 softmax backward, rounded)
	 *   dS' = bf16(dS · scale)
	 *   dQ = bf16(dS' · K);  dK_h = bf16(dS'ᵀ · Q)
	 *   GQA: dK_g = bf16( Σ_{h in g} dK_h ), same for dV (fp32 sum of the
	 *   bf16 per-head terms, rounded once).
	 * dq (B,T,H,D), dk, dv (B,T,G,D) overwritten. Rows with no visible key
	 * contribute nothing. */
	enum lms_status (*attention_backward)(void *ctx, lms_bf16 *d_dq, lms_bf16 *d_dk,
					      lms_bf16 *d_dv, const lms_bf16 *d_dout,
					      const lms_bf16 *d_q, const lms_bf16 *d_k,
					      const lms_bf16 *d_v, const lms_bf16 *d_out,
					      const float *d_lse, const int32_t *d_mask,
					      const struct lms_attn_dims *dims, void *d_work,
					      size_t work_bytes);

	/* ---- SwiGLU --------------------------------------------------------
	 * out = bf16( bf16(silu(gate)) · up ), silu(z) = z·σ(z) in fp32.
	 * gate, up, out (n elements). */
	enum lms_status (*swiglu_forward)(void *ctx, lms_bf16 *d_out, const lms_bf16 *d_gate,
					  const lms_bf16 *d_up, size_t n);
	/* s = bf16(silu(gate)):  dup = bf16(dout · s);
	 *   dgate = bf16( bf16(dout · up) · σ(g)·(1 + g·(1 − σ(g))) ).
	 * dgate/dup overwritten; they may alias gate/up respectively (in place). */
	enum lms_status (*swiglu_backward)(void *ctx, lms_bf16 *d_dgate, lms_bf16 *d_dup,
					   const lms_bf16 *d_dout, const lms_bf16 *d_gate,
					   const lms_bf16 *d_up, size_t n);

	/* ---- residual add: out = bf16(a + b); out may alias a or b -------- */
	enum lms_status (*add)(void *ctx, lms_bf16 *d_out, const lms_bf16 *d_a, const lms_bf16 *d_b,
			       size_t n);

	/* ---- cross-entropy over the full vocabulary ------------------------
	 * logits (N, V) bf16 (upcast to fp32 as HF does); targets (N) int32 are
	 * the ALREADY SHIFTED labels (targets[b·T + t] = labels[b, t+1], −100 at
	 * the last position and at ignored tokens).
	 * d_losses (N) fp32: lse(z_n) − z_n[target] for valid rows, 0 for ignored.
	 * d_dlogits (N, V) bf16, may be NULL (no gradient):
	 *   bf16( (softmax(z_n) − onehot(target)) · grad_scale ) for valid rows,
	 *   0 for ignored rows. grad_scale is 1/N_valid for the mean reduction,
	 *   1 for sum. d_dlogits may alias d_logits (in place).
	 * The scalar loss is formed by the caller from d_losses. */
	enum lms_status (*cross_entropy)(void *ctx, float *d_losses, lms_bf16 *d_dlogits,
					 const lms_bf16 *d_logits, const int32_t *d_targets, int N,
					 int V, float grad_scale);

	/* ---- reductions the scoring needs ----------------------------------
	 * amax[r] = max(amax[r] (if accumulate), max_j |x[r, j]|) for x (rows,
	 * cols) bf16; amax (rows) fp32. rows = 1 gives the per-tensor amax.
	 * A NaN in x makes amax[r] NaN (callers reject it). */
	enum lms_status (*absmax_rows)(void *ctx, float *d_amax, const lms_bf16 *d_x, int64_t rows,
				       int64_t cols, int accumulate);
	/* acc[0] += Σ_i (float(g_i) · float(Δ_i))²  with Δ_i = bf16(yq_i − y_i);
	 * the product g·Δ is an fp32 value, its square and the sum are fp64
	 * (ModelOpt PR #1126 semantics, without the fp32 overflow). acc is one
	 * fp64 value in backend memory, accumulated (never overwritten). */
	enum lms_status (*sq_dot_accum)(void *ctx, double *d_acc, const lms_bf16 *d_yq,
					const lms_bf16 *d_y, const lms_bf16 *d_g, size_t n);

	/* KL divergence per row, for the kl_div scoring method (src/autoquant/
	 * kldiv.c; reference/modelopt-autoquant.md §6, HEAD form):
	 *   acc[r] += Σ_v p_v · (log p_v − log q_v),  r < rows,
	 * p = softmax(float(zp[r])), q = softmax(float(zq[r])) over V entries
	 * (bf16 logits upcast as HF does). With m the row max, x = z − m,
	 * S = Σ exp(x):  KL = Σ_v exp(xp_v)·(xp_v − xq_v) / Sp − (log Sp − log Sq),
	 * everything after the max in fp64 (exp included: with fp32 exp the
	 * error of log Sp − log Sq alone is ~1e-9, 4e-5 of a KL of 3e-5), so a
	 * small divergence is not lost to the cancellation of two fp32
	 * log-softmaxes. Two exps per element, no scratch.
	 * acc (rows) fp64, accumulated (never overwritten); one row per output,
	 * so the totals do not depend on the thread count (the caller adds the
	 * rows in order). Optional: the kl_div method needs it, the gradient
	 * method does not. */
	enum lms_status (*kl_div_accum)(void *ctx, double *d_acc, const lms_bf16 *d_zp,
					const lms_bf16 *d_zq, int64_t rows, int64_t V);

	/* ---- fake quantization (slot owned by src/quant/) ------------------
	 * out (rows, cols) = Q(in) per the descriptor (format, scales, amax
	 * pointers in backend memory), bf16 in, bf16 out; out == in allowed.
	 * The quant module writes the implementations (CPU in
	 * src/backend/cpu_quant.c, CUDA in kernels/) and the one line that sets
	 * this slot in each backend's table; until then the slot is NULL. */
	enum lms_status (*fake_quant)(void *ctx, lms_bf16 *d_out, const lms_bf16 *d_in,
				      int64_t rows, int64_t cols,
				      const struct lms_quant_desc *desc);

	/* ---- fused RMSNorm (optional; NULL: callers use the plain ops) -------
	 * rmsnorm_forward / rmsnorm_backward with the work of struct
	 * lms_norm_fuse done in the same pass over memory. Forward: out must
	 * not alias x, add or sum_out. Backward: dx == dy allowed (required
	 * with cos: the plain sequence rotates dy in place); dy's buffer may be
	 * overwritten. lms_eng_norm_* (src/engine/) fall back to the plain ops. */
	enum lms_status (*rmsnorm_forward_ex)(void *ctx, lms_bf16 *d_out, float *d_rstd,
					      const lms_bf16 *d_x, const lms_bf16 *d_w, int rows,
					      int n, float eps, const struct lms_norm_fuse *f);
	enum lms_status (*rmsnorm_backward_ex)(void *ctx, lms_bf16 *d_dx, lms_bf16 *d_dy,
					       const lms_bf16 *d_x, const lms_bf16 *d_w,
					       const float *d_rstd, int rows, int n, float eps,
					       const struct lms_norm_fuse *f);

	/* ---- a second stream (optional; NULL: every op in issue order) -------
	 * side_begin: the side stream waits for every op issued so far, and
	 *   the ops issued until side_end run on it, in their issue order,
	 *   concurrently with the ops issued on the main stream after side_end.
	 * side_end: marks `slot` (< LMS_SIDE_SLOTS) at the side stream's end
	 *   and sends later ops to the main stream again.
	 * side_join: the main stream's later ops wait for the side stream's
	 *   ops up to the last side_end(slot) (none yet: nothing to wait for).
	 * Only the order between the two streams changes, never an op: results
	 * are the bits of issuing everything in order on one stream, provided
	 * the caller joins before the main stream overwrites what side work
	 * reads, and issues the ops that use the backend's own scratch
	 * (sq_dot_accum, fake_quant's dynamic amax) on one stream only. sync and
	 * the copies to the host wait for both streams. A backend may run the
	 * side work in line (debug and profile modes do: one stream). */
	enum lms_status (*side_begin)(void *ctx);
	enum lms_status (*side_end)(void *ctx, int slot);
	enum lms_status (*side_join)(void *ctx, int slot);

	/* ---- debugging aids (optional; NULL: ignored) -----------------------
	 * set_label names the place of the ops that follow, for debug-mode and
	 * error messages: the label is the non-empty parts joined by spaces,
	 * e.g. ("model.language_model.layers.3.mlp.down_proj", "replay",
	 * "FP8_DEFAULT_CFG"). The parts are BORROWED until the next set_label
	 * call (engine module names, string literals, format names): the backend
	 * stores three pointers and formats the text only when it reports, so a
	 * label per op costs nothing when debug mode is off. NULL parts are
	 * empty. Callers use lms_backend_set_label (NULL-safe on the slot).
	 * set_debug turns debug mode on or off: after every op the backend
	 * checks its outputs for NaN/Inf (and CUDA synchronizes and checks for
	 * pending errors) and fails with LMS_ERR_NUMERIC naming the op, the
	 * output and the label (lms_backend_nonfinite_fail). */
	void (*set_label)(void *ctx, const char *module, const char *stage, const char *detail);
	void (*set_debug)(void *ctx, int on);

	/* Frees ctx (NULL-safe); called by lms_backend_free. */
	void (*destroy)(void *ctx);
};

struct lms_backend {
	struct lms_backend_ops ops;
	void *ctx;     /* owned; freed by ops.destroy */
	char name[32]; /* "cpu", "cuda:0" */
	int is_host;   /* 1 when backend memory is host memory (CPU) */
	int (*supports)(const struct lms_backend *be, enum lms_backend_op op);
};

/* 1 when be implements op (its slot is non-NULL). Never NULL-derefs. */
int lms_backend_supports(const struct lms_backend *be, enum lms_backend_op op);

/* Options for the plain-C backend. threads <= 0: OpenMP's default (or 1
 * without OpenMP). */
struct lms_cpu_options {
	int threads;
};

/* New CPU backend (caller frees with lms_backend_free). opts may be NULL. */
LMS_NODISCARD enum lms_status lms_backend_cpu_init(const struct lms_cpu_options *opts,
						   struct lms_backend **out);

#ifdef LMS_HAVE_CUDA
/* New CUDA backend on device `device` (written in src/backend/<name>_cuda.c). */
LMS_NODISCARD enum lms_status lms_backend_cuda_init(int device, struct lms_backend **out);
#endif

/* New backend by name: "cpu", "cuda" (device 0) or "cuda:<n>". A CUDA name
 * in a build without CUDA fails with LMS_ERR_UNSUPPORTED and a hint. */
LMS_NODISCARD enum lms_status lms_backend_init(const char *name, struct lms_backend **out);

/* Destroys the backend (NULL-safe). Memory still allocated from it is
 * released with it only if the backend says so; callers free theirs first. */
void lms_backend_free(struct lms_backend *be);

/* The linear forward Y (M, out) = X (M, in) · Wᵀ with W (out, in), bf16 in and
 * out, fp32 accumulation: the one GEMM layout the engine and the AutoQuant
 * replays share. All pointers are backend memory, borrowed for the call. */
LMS_NODISCARD enum lms_status lms_backend_linear_forward(struct lms_backend *be, lms_bf16 *d_y,
							 const lms_bf16 *d_x, const lms_bf16 *d_w,
							 int M, int in, int out);

/* Sets the op label (see set_label above; parts borrowed until the next
 * call). A no-op when the backend has no set_label slot. Inline and
 * allocation-free: the engine calls it once per module. */
static inline void lms_backend_set_label(struct lms_backend *be, const char *module,
					 const char *stage, const char *detail)
{
	if (be && be->ops.set_label)
		be->ops.set_label(be->ctx, module, stage, detail);
}

/* Turns debug mode on or off (a no-op without a set_debug slot). */
void lms_backend_set_debug(struct lms_backend *be, int on);

/* Writes the label parts joined by single spaces into buf (cap bytes,
 * always NUL-terminated; "" when every part is empty). Returns buf. */
char *lms_backend_label_text(char *buf, size_t cap, const char *module, const char *stage,
			     const char *detail);

/* The debug-mode failure every backend reports for a non-finite output, so
 * that the CPU and CUDA messages have one shape:
 *   "<backend> at <label>: op <op> produced <count> non-finite value(s) in
 *    <what> (of <n>)"  with a hint. Returns LMS_ERR_NUMERIC. */
LMS_NODISCARD enum lms_status lms_backend_nonfinite_fail(const char *backend, const char *label,
							 const char *op, const char *what,
							 unsigned long long count, size_t n);

/* Allocates bytes with be->ops.alloc and records a message naming `what`
 * ("engine activations") on failure. */
LMS_NODISCARD enum lms_status lms_backend_alloc(struct lms_backend *be, size_t bytes,
						const char *what, void **d_out);

#endif
