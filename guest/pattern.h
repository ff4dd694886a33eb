/*
 * pattern.h - page pattern of the cpr test guest.
 *
 * Shared verbatim by the freestanding guest (guest.c) and by host-side test
 * code, so it uses nothing but <stdint.h> and static inline functions.
 *
 * A 4 KiB page at guest-physical address A holding generation g contains
 * 512 little-endian uint64 words:
 *   word 0      CPRG_MAGIC
 *   word 1      A
 *   word 2      g
 *   word i>=3   cprg_seed(A, g) + i * CPRG_STEP   (mod 2^64)
 * The seed is one bijective multiply-xorshift of (A, g); the per-word cost is
 * a single add, which matters because the guest runs under TCG.
 */
#ifndef CPRG_PATTERN_H
#define CPRG_PATTERN_H

#include <stdint.h>

#define CPRG_MAGIC      0x6567617067727063ULL   /* "cprgpage" little-endian */
#define CPRG_PAGE_SIZE  4096u
#define CPRG_PAGE_WORDS (CPRG_PAGE_SIZE / 8u)
#define CPRG_HDR_WORDS  3u                      /* magic, address, generation */
#define CPRG_STEP       0xD6E8FEB86659FD93ULL   /* odd: words within a page differ */

/* Per-page seed: bijective mix of the address with the spread generation. */
static inline uint64_t cprg_seed(uint64_t addr, uint64_t gen)
{
    uint64_t x = addr ^ (gen * 0x9E3779B97F4A7C15ULL);

    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    return x;
}

/* Expected value of word idx (0..511) of page addr at generation gen. */
static inline uint64_t cprg_word(uint64_t addr, uint64_t gen, unsigned idx)
{
    if (idx == 0)
        return CPRG_MAGIC;
    if (idx == 1)
        return addr;
    if (idx == 2)
        return gen;
    return cprg_seed(addr, gen) + (uint64_t)idx * CPRG_STEP;
}

/* Write the whole pattern of page addr, generation gen, into page. */
static inline void cprg_fill(uint64_t *page, uint64_t addr, uint64_t gen)
{
    uint64_t w = cprg_seed(addr, gen) + CPRG_HDR_WORDS * CPRG_STEP;
    unsigned i;

    page[0] = CPRG_MAGIC;
    page[1] = addr;
    page[2] = gen;
    for (i = CPRG_HDR_WORDS; i < 8; i++) {
        page[i] = w;
        w += CPRG_STEP;
    }
    /* unrolled by hand: under TCG each loop iteration has a fixed cost */
    for (i = 8; i < CPRG_PAGE_WORDS; i += 8) {
        page[i + 0] = w; w += CPRG_STEP;
        page[i + 1] = w; w += CPRG_STEP;
        page[i + 2] = w; w += CPRG_STEP;
        page[i + 3] = w; w += CPRG_STEP;
        page[i + 4] = w; w += CPRG_STEP;
        page[i + 5] = w; w += CPRG_STEP;
        page[i + 6] = w; w += CPRG_STEP;
        page[i + 7] = w; w += CPRG_STEP;
    }
}

/*
 * Check page against addr/gen.  Returns 0 if every word matches, else 1 and
 * stores the index of the first wrong word in *bad_idx (if bad_idx != 0).
 * The fast path only ORs differences (no branch per word, cheap under TCG);
 * the exact word is searched for only once something is known to be wrong.
 */
static inline int cprg_check(const uint64_t *page, uint64_t addr, uint64_t gen,
                             unsigned *bad_idx)
{
    uint64_t w = cprg_seed(addr, gen) + CPRG_HDR_WORDS * CPRG_STEP;
    uint64_t diff = (page[0] ^ CPRG_MAGIC) | (page[1] ^ addr) | (page[2] ^ gen);
    unsigned i;

    for (i = CPRG_HDR_WORDS; i < 8; i++) {
        diff |= page[i] ^ w;
        w += CPRG_STEP;
    }
    for (i = 8; i < CPRG_PAGE_WORDS; i += 8) {
        diff |= page[i + 0] ^ w; w += CPRG_STEP;
        diff |= page[i + 1] ^ w; w += CPRG_STEP;
        diff |= page[i + 2] ^ w; w += CPRG_STEP;
        diff |= page[i + 3] ^ w; w += CPRG_STEP;
        diff |= page[i + 4] ^ w; w += CPRG_STEP;
        diff |= page[i + 5] ^ w; w += CPRG_STEP;
        diff |= page[i + 6] ^ w; w += CPRG_STEP;
        diff |= page[i + 7] ^ w; w += CPRG_STEP;
    }
    if (diff == 0)
        return 0;
    for (i = 0; i < CPRG_PAGE_WORDS; i++) {
        if (page[i] != cprg_word(addr, gen, i))
            break;
    }
    /* i == CPRG_PAGE_WORDS only if the page changed under us: blame word 0 */
    if (bad_idx)
        *bad_idx = i < CPRG_PAGE_WORDS ? i : 0;
    return 1;
}

#endif /* CPRG_PATTERN_H */
