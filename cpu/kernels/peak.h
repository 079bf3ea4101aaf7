#ifndef SR_PEAK_H
#define SR_PEAK_H
#include <stdint.h>
// iters rounds of 16 fused multiply-adds on 512-bit (16 floats) or
// 256-bit (8 floats) vectors: 512 or 256 FLOP per round.
float sr_fma512(int64_t iters);
float sr_fma256(int64_t iters);
#endif
