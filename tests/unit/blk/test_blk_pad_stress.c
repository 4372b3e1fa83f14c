/* SPDX-License-Identifier: MIT */
/*
 * No lost update across queues: 4 threads, each with its own queue and
 * backend queue, write distinct 512-byte sectors sharing 4 KiB blocks of a
 * strict 4096-aligned backend (every write is a read-modify-write); the
 * device-wide range lock must serialise them. See pad_stress.h.
 */
#include "pad_stress.h"
#include "sbe.h"

int main(void)
{
	struct sbe s;
	struct blk_dev d;
	struct blk_dev_opts o = {.num_queues = PS_NQ, .queue_size = 128, .logical_block_size = 512};

	sbe_init(&s, PS_SECTORS * 512, 4096, 4096);
	CHECK_EQ(blk_dev_init(&d, &s.base, &o), 0);
	CHECK(d.rmw);
	blk_dev_set_features(&d, d.features);
	ps_stress(&d);
	ps_verify(s.mem);
	CHECK_EQ(atomic_load(&s.bad), 0);
	blk_dev_fini(&d);
	free(s.mem);
	return 0;
}
