/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Big-endian (network order) loads and stores on byte buffers, one place
 * for the packet decoder, the sync wire format and the packet builders of
 * tests and benchmarks. The caller has checked the length.
 */
#ifndef CTGUARD_BYTES_H
#define CTGUARD_BYTES_H

#include <stdint.h>

static inline uint16_t
ctg_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
ctg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
ctg_get64(const uint8_t *p)
{
	return (uint64_t)ctg_get32(p) << 32 | ctg_get32(p + 4);
}

static inline void
ctg_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
ctg_put32(uint8_t *p, uint32_t v)
{
	ctg_put16(p, (uint16_t)(v >> 16));
	ctg_put16(p + 2, (uint16_t)v);
}

static inline void
ctg_put64(uint8_t *p, uint64_t v)
{
	ctg_put32(p, (uint32_t)(v >> 32));
	ctg_put32(p + 4, (uint32_t)v);
}

#endif
