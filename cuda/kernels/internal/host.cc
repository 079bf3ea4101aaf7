// host.cc: the runtime of the SPEEDRUN_HOST build of our kernels (see
// prelude.h): the CUDA built-in index variables and a block-wide barrier.
// Test-only; it never runs on a GPU machine.
#include <pthread.h>
#include "../prelude.h"

static pthread_barrier_t barrier;

extern "C" void speedrun_host_sync(void) { pthread_barrier_wait(&barrier); }

// speedrun_host_block sets the grid geometry and the block being run, and
// arms the barrier for the block's thread count.
extern "C" void speedrun_host_block(unsigned bx, unsigned by, unsigned bz, unsigned dx, unsigned dy, unsigned dz,
				    unsigned gx, unsigned gy, unsigned gz) {
	static int armed;
	if (armed) pthread_barrier_destroy(&barrier);
	pthread_barrier_init(&barrier, 0, dx * dy * dz);
	armed = 1;
	blockIdx = {bx, by, bz};
	blockDim = {dx, dy, dz};
	gridDim = {gx, gy, gz};
}

// speedrun_host_thread sets threadIdx for the calling OS thread.
extern "C" void speedrun_host_thread(unsigned x, unsigned y, unsigned z) { threadIdx = {x, y, z}; }
