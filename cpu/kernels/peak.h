#ifndef SR_PEAK_H
#define SR_PEAK_H
#include <stdint.h>
// SR_FMA256_ACC is sr_fma256's accumulator count (peak.c says why).
#define SR_FMA256_ACC 12
// iters rounds of 16 fused multiply-adds on 512-bit (16 floats) vectors
// or SR_FMA256_ACC on 256-bit (8 floats): 512 or 8*2*SR_FMA256_ACC FLOP
// per round.
float sr_fma512(int64_t iters);
float sr_fma256(int64_t iters);
#endif
