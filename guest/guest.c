/*
 * guest.c - the cpr test guest (freestanding, x86-64 long mode, one CPU).
 *
 * Fills a share of guest RAM with the pattern of pattern.h, then forever
 * rewrites pages with the next generation and verifies all pages, reporting
 * on isa-debugcon (port 0xe9).  See README.md for the command line and the
 * output format; that file is the contract with the host-side tools.
 *
 * entry.S identity-maps the first 64 GiB, so a physical address is a pointer.
 * Interrupts stay disabled throughout; everything is polled.
 */
#include <stdint.h>

#include "pattern.h"

#define MB_BOOT_MAGIC   0x2BADB002u     /* EAX from a multiboot v1 loader */
#define MBI_FLAG_MEM    (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MMAP   (1u << 6)
#define MMAP_AVAILABLE  1u

#define DEBUGCON_PORT   0xe9
#define PIT_HZ          1193182u        /* i8254 input clock */

#define MAPPED_LIMIT    (64ull << 30)   /* identity map of entry.S */
#define MAX_REGIONS     32
#define CHUNK_PAGES     16              /* pages of work between clock polls */
#define MAX_E_PER_TICK  8
#define MAX_WARNINGS    8
#define CMDLINE_MAX     1024

/* Multiboot v1 information structure (the part we read). */
struct mb_info {
    uint32_t flags;
    uint32_t mem_lower;
    uint32_t mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;
    uint32_t mmap_addr;
};

/* A run of test pages: pages [first, first + npages) start at base. */
struct region {
    uint64_t base;
    uint64_t npages;
    uint64_t first;
};

/* A command-line complaint, printed as a W line after the B line. */
struct warning {
    const char *what;
    const char *tok;
    unsigned len;
};

extern char _end[];                     /* end of the image (guest.ld) */

void guest_main(uint32_t mb_magic, uint32_t mb_info);
static void warn(const char *what, const char *tok, unsigned len);

/* configuration (command line) */
static unsigned cfg_fill = 90;
static unsigned cfg_tick_ms = 20;
static uint64_t cfg_wr = 64;            /* MiB/s; 0 = no rewriting */
static int cfg_wr_max;

static char cmdline[CMDLINE_MAX];
static struct warning warnings[MAX_WARNINGS];
static unsigned nwarnings;
static int warned_limit;

/* test memory */
static struct region regions[MAX_REGIONS];
static unsigned nregions;
static uint64_t total_pages;            /* usable test pages */
static uint64_t npages;                 /* test pages in use (fill=P) */

/* writer / verifier state, as reported on G lines */
static uint64_t wcur, gen, vcur, verified, passes, errors, seq;
static unsigned e_lines;                /* E lines printed in this tick */

/* clock */
static uint64_t clk;                    /* PIT ticks since pit_init() */
static uint16_t pit_prev;

/* output line buffer */
static char obuf[256];
static unsigned olen;

/* ------------------------------------------------------------------ */
/* port I/O                                                            */

/* Write one byte to an I/O port. */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

/* Read one byte from an I/O port. */
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* Stop the CPU for good. */
static void __attribute__((noreturn)) halt(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ------------------------------------------------------------------ */
/* output                                                              */

/* Append a character to the current line (silently truncates). */
static void put_c(char c)
{
    if (olen < sizeof(obuf) - 1)
        obuf[olen++] = c;
}

/* Append a string. */
static void put_s(const char *s)
{
    while (*s)
        put_c(*s++);
}

/* Append n bytes of s. */
static void put_n(const char *s, unsigned n)
{
    while (n--)
        put_c(*s++);
}

/* Append an unsigned decimal number. */
static void put_dec(uint64_t v)
{
    char tmp[20];
    unsigned n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put_c(tmp[--n]);
}

/* Append a hex number with 0x prefix. */
static void put_hex(uint64_t v)
{
    char tmp[16];
    unsigned n = 0;

    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    put_s("0x");
    while (n)
        put_c(tmp[--n]);
}

/* Terminate the line and send it to debugcon in one rep outsb. */
static void put_end(void)
{
    const char *p = obuf;
    uint64_t n;

    obuf[olen++] = '\n';
    n = olen;
    __asm__ volatile("rep outsb"
                     : "+S"(p), "+c"(n)
                     : "d"((uint16_t)DEBUGCON_PORT)
                     : "memory");
    olen = 0;
}

/* ------------------------------------------------------------------ */
/* clock                                                               */

/*
 * Guest time comes from PIT channel 0, polled.  Why the PIT and not the TSC:
 * it needs no calibration, and QEMU derives it from QEMU_CLOCK_VIRTUAL, which
 * stops while the VM is paused and is carried over by migration/CPR, so a
 * pause costs no guest time and reporting resumes at once.  The counter wraps
 * every 65536 ticks (54.9 ms); we poll every CHUNK_PAGES pages, i.e. well
 * under a millisecond.  If the vCPU thread is starved for > 55 ms the lost
 * wraps just make guest time run slow, never backwards.
 */

/* Latch and read PIT channel 0's counter (low byte first). */
static uint16_t pit_read(void)
{
    uint8_t lo, hi;

    outb(0x43, 0x00);                   /* counter latch command, ch 0 */
    lo = inb(0x40);                     /* separate statements: order matters */
    hi = inb(0x40);
    return (uint16_t)(lo | (hi << 8));
}

/* Program channel 0 as a free-running 16-bit down counter (mode 2). */
static void pit_init(void)
{
    outb(0x21, 0xff);                   /* mask both PICs: we never take IRQs */
    outb(0xa1, 0xff);
    outb(0x43, 0x34);                   /* ch 0, lo/hi byte, mode 2, binary */
    outb(0x40, 0);                      /* reload 0 = 65536 */
    outb(0x40, 0);
    pit_prev = pit_read();
}

/* Guest time in PIT ticks: accumulate the counter's decrease since last poll. */
static uint64_t clock_now(void)
{
    uint16_t c = pit_read();

    clk += (uint16_t)(pit_prev - c);
    pit_prev = c;
    return clk;
}

/* PIT ticks -> milliseconds. */
static uint64_t ticks_to_ms(uint64_t t)
{
    return t * 1000 / PIT_HZ;
}

/* ------------------------------------------------------------------ */
/* boot information                                                    */

/* Insert [start, end) into the sorted region table (merged/cut later). */
static void add_range(uint64_t start, uint64_t end)
{
    /* test pages start at the first 2 MiB boundary above the image */
    uint64_t floor = ((uint64_t)(uintptr_t)_end + (2u << 20) - 1) & ~((2ull << 20) - 1);
    unsigned i;

    if (start < floor)
        start = floor;
    if (end > MAPPED_LIMIT) {
        if (start < end && !warned_limit) {
            warned_limit = 1;
            warn("RAM above 64 GiB not tested", 0, 0);
        }
        end = MAPPED_LIMIT;
    }
    start = (start + CPRG_PAGE_SIZE - 1) & ~(uint64_t)(CPRG_PAGE_SIZE - 1);
    end &= ~(uint64_t)(CPRG_PAGE_SIZE - 1);
    if (start >= end || nregions == MAX_REGIONS)
        return;
    for (i = nregions; i > 0 && regions[i - 1].base > start; i--)
        regions[i] = regions[i - 1];
    regions[i].base = start;
    regions[i].npages = (end - start) / CPRG_PAGE_SIZE;
    nregions++;
}

/* Merge touching regions, cut overlaps, number the pages. */
static void finish_regions(void)
{
    unsigned i, n = 0;

    for (i = 0; i < nregions; i++) {
        struct region r = regions[i];
        uint64_t end = r.base + r.npages * CPRG_PAGE_SIZE;

        if (n > 0) {
            struct region *p = &regions[n - 1];
            uint64_t pend = p->base + p->npages * CPRG_PAGE_SIZE;

            if (end <= pend)
                continue;
            if (r.base <= pend) {
                p->npages = (end - p->base) / CPRG_PAGE_SIZE;
                continue;
            }
        }
        regions[n++] = r;
    }
    nregions = n;
    total_pages = 0;
    for (i = 0; i < nregions; i++) {
        regions[i].first = total_pages;
        total_pages += regions[i].npages;
    }
}

/* Read a possibly unaligned little-endian uint64 (mmap entries are packed). */
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/*
 * Copy what we need out of the multiboot structures before touching memory:
 * after this they may be overwritten by test pages.
 */
static void read_boot_info(const struct mb_info *mbi)
{
    if (mbi->flags & MBI_FLAG_CMDLINE) {
        const char *s = (const char *)(uintptr_t)mbi->cmdline;
        unsigned i;

        for (i = 0; i < CMDLINE_MAX - 1 && s[i]; i++)
            cmdline[i] = s[i];
        cmdline[i] = 0;
        if (s[i])
            warn("command line truncated", 0, 0);
    }

    if (mbi->flags & MBI_FLAG_MMAP) {
        const uint8_t *p = (const uint8_t *)(uintptr_t)mbi->mmap_addr;
        const uint8_t *e = p + mbi->mmap_length;

        /* entry: u32 size (not counting itself), u64 base, u64 len, u32 type */
        while (p + 24 <= e) {
            uint32_t size = *(const uint32_t *)p;
            uint64_t base = rd64(p + 4);
            uint64_t len = rd64(p + 12);
            uint32_t type = *(const uint32_t *)(p + 20);

            if (type == MMAP_AVAILABLE && len > 0 && base + len > base)
                add_range(base, base + len);
            p += size + 4;
        }
    } else if (mbi->flags & MBI_FLAG_MEM) {
        /* no map: mem_upper is KiB of contiguous RAM from 1 MiB */
        add_range(1u << 20, (1u << 20) + (uint64_t)mbi->mem_upper * 1024);
    }
    finish_regions();
}

/* ------------------------------------------------------------------ */
/* command line                                                        */

/* Remember a complaint, about token tok[0..len) if len > 0. */
static void warn(const char *what, const char *tok, unsigned len)
{
    if (nwarnings < MAX_WARNINGS) {
        warnings[nwarnings].what = what;
        warnings[nwarnings].tok = tok;
        warnings[nwarnings].len = len;
        nwarnings++;
    }
}

/* Parse a decimal number in s[0..len) into *v; 0 if malformed or > max. */
static int parse_num(const char *s, unsigned len, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    unsigned i;

    if (len == 0 || len > 12)
        return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > max)
        return 0;
    *v = x;
    return 1;
}

/* True if s[0..len) equals the C string lit. */
static int tok_eq(const char *s, unsigned len, const char *lit)
{
    unsigned i;

    for (i = 0; i < len; i++)
        if (lit[i] != s[i])
            return 0;
    return lit[len] == 0;
}

/* Apply one key=value token. */
static void parse_token(const char *tok, unsigned len)
{
    unsigned k = 0;
    const char *val;
    unsigned vlen;
    uint64_t v;

    while (k < len && tok[k] != '=')
        k++;
    if (k == len) {
        warn("unknown key", tok, len);
        return;
    }
    val = tok + k + 1;
    vlen = len - k - 1;

    if (tok_eq(tok, k, "fill")) {
        if (parse_num(val, vlen, 100, &v) && v >= 1)
            cfg_fill = (unsigned)v;
        else
            warn("bad value", tok, len);
    } else if (tok_eq(tok, k, "tick")) {
        if (parse_num(val, vlen, 1000, &v) && v >= 1)
            cfg_tick_ms = (unsigned)v;
        else
            warn("bad value", tok, len);
    } else if (tok_eq(tok, k, "wr")) {
        if (tok_eq(val, vlen, "max")) {
            cfg_wr_max = 1;
        } else if (parse_num(val, vlen, 1u << 20, &v)) {
            cfg_wr = v;
            cfg_wr_max = 0;
        } else {
            warn("bad value", tok, len);
        }
    } else {
        warn("unknown key", tok, len);
    }
}

/*
 * Split the command line at blanks.  QEMU (like GRUB) prepends the kernel
 * file name; a first word without '=' is taken to be that and skipped.
 */
static void parse_cmdline(void)
{
    const char *s = cmdline;
    int first = 1;

    for (;;) {
        const char *t;
        unsigned len = 0, i, has_eq = 0;

        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        t = s;
        while (t[len] && t[len] != ' ' && t[len] != '\t')
            len++;
        s = t + len;
        for (i = 0; i < len; i++)
            has_eq |= t[i] == '=';
        if (first && !has_eq) {
            first = 0;
            continue;
        }
        first = 0;
        parse_token(t, len);
    }
}

/* ------------------------------------------------------------------ */
/* writer and verifier                                                 */

/* Physical address of test page i (i < total_pages). */
static uint64_t page_addr(uint64_t i)
{
    unsigned r = 0;

    while (i >= regions[r].first + regions[r].npages)
        r++;
    return regions[r].base + (i - regions[r].first) * CPRG_PAGE_SIZE;
}

/* Write up to n pages at wcur with generation gen; wrap to the next round. */
static void write_pages(uint64_t n)
{
    while (n-- && wcur < npages) {
        uint64_t a = page_addr(wcur);

        cprg_fill((uint64_t *)(uintptr_t)a, a, gen);
        wcur++;
    }
    /* with rewriting off, round 0 ends with wcur == npages for good */
    if (wcur == npages && (cfg_wr > 0 || cfg_wr_max)) {
        wcur = 0;
        gen++;
    }
}

/* Verify n pages at vcur against the generation they must hold. */
static void verify_pages(uint64_t n)
{
    while (n--) {
        uint64_t a = page_addr(vcur);
        /* pages below wcur got this round's gen, the rest the previous one;
           with rewriting off gen stays 0 and wcur == npages */
        uint64_t g = vcur < wcur ? gen : gen - 1;
        const uint64_t *p = (const uint64_t *)(uintptr_t)a;
        unsigned bad;

        if (cprg_check(p, a, g, &bad)) {
            errors++;
            if (e_lines < MAX_E_PER_TICK) {
                e_lines++;
                put_s("E addr=");
                put_hex(a);
                put_s(" gen=");
                put_dec(g);
                put_s(" word=");
                put_dec(bad);
                put_s(" expect=");
                put_hex(cprg_word(a, g, bad));
                put_s(" got=");
                put_hex(p[bad]);
                put_end();
            }
        }
        verified++;
        if (++vcur == npages) {
            vcur = 0;
            passes++;
        }
    }
}

/* Emit the periodic G line. */
static void report(uint64_t now)
{
    put_s("G seq=");
    put_dec(seq++);
    put_s(" gen=");
    put_dec(gen);
    put_s(" wcur=");
    put_dec(wcur);
    put_s(" filled=");
    put_dec(gen > 0 ? npages : wcur);
    put_s(" verified=");
    put_dec(verified);
    put_s(" passes=");
    put_dec(passes);
    put_s(" errors=");
    put_dec(errors);
    put_s(" t=");
    put_dec(ticks_to_ms(now));
    put_end();
}

/*
 * The scheduler: between clock polls do one chunk of work.  Round 0 (fill)
 * writes flat out.  Afterwards the writer gets pages from a token bucket fed
 * at wr MiB/s (or unlimited for wr=max), but only while it has used no more
 * time than the verifier in this tick, so verification always keeps at least
 * half of each tick.  Everything else is verification.
 */
static void __attribute__((noreturn)) run(void)
{
    const uint64_t tick = (uint64_t)cfg_tick_ms * PIT_HZ / 1000;
    const uint64_t rate = cfg_wr * (1u << 20) / CPRG_PAGE_SIZE;  /* pages/s */
    /* bucket in units of pages * PIT_HZ; holds at most two ticks' worth */
    uint64_t cap = 2 * tick * rate;
    uint64_t credit = 0, w_spent = 0, v_spent = 0;
    uint64_t last = clock_now(), next = last + tick;
    enum { ACT_NONE, ACT_WRITE, ACT_VERIFY } act = ACT_NONE;

    if (cap < (uint64_t)CHUNK_PAGES * PIT_HZ)
        cap = (uint64_t)CHUNK_PAGES * PIT_HZ;

    for (;;) {
        uint64_t now = clock_now();
        uint64_t dt = now - last;       /* < 65536: no overflow below */

        last = now;
        if (act == ACT_WRITE)
            w_spent += dt;
        else if (act == ACT_VERIFY)
            v_spent += dt;
        if (gen > 0 && !cfg_wr_max) {
            credit += dt * rate;
            if (credit > cap)
                credit = cap;
        }

        if (now >= next) {
            report(now);
            w_spent = v_spent = 0;
            e_lines = 0;
            next += tick;
            if (next <= now)            /* after a long gap: no report burst */
                next = now + tick;
        }

        if (gen == 0 && wcur < npages) {
            write_pages(CHUNK_PAGES);
            act = ACT_WRITE;
        } else if (gen > 0 && w_spent <= v_spent &&
                   (cfg_wr_max || credit >= PIT_HZ)) {
            uint64_t n = CHUNK_PAGES;

            if (!cfg_wr_max) {
                if (n > credit / PIT_HZ)
                    n = credit / PIT_HZ;
                credit -= n * PIT_HZ;
            }
            write_pages(n);
            act = ACT_WRITE;
        } else {
            verify_pages(CHUNK_PAGES);
            act = ACT_VERIFY;
        }
    }
}

/* ------------------------------------------------------------------ */

/* C entry point, called from entry.S in long mode with interrupts off. */
void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
    unsigned i;

    pit_init();
    if (mb_magic != MB_BOOT_MAGIC) {
        put_s("W not started by a multiboot loader, magic=");
        put_hex(mb_magic);
        put_end();
        halt();
    }
    read_boot_info((const struct mb_info *)(uintptr_t)mb_info);
    parse_cmdline();

    npages = total_pages * cfg_fill / 100;
    if (npages == 0 && total_pages > 0)
        npages = 1;

    put_s("B cprg v1 mem=");
    put_dec(total_pages * CPRG_PAGE_SIZE);
    put_s(" pages=");
    put_dec(npages);
    put_s(" fill=");
    put_dec(cfg_fill);
    put_s(" tick=");
    put_dec(cfg_tick_ms);
    put_s(" wr=");
    if (cfg_wr_max)
        put_s("max");
    else
        put_dec(cfg_wr);
    put_end();

    for (i = 0; i < nregions; i++) {
        put_s("M base=");
        put_hex(regions[i].base);
        put_s(" len=");
        put_hex(regions[i].npages * CPRG_PAGE_SIZE);
        put_end();
    }

    for (i = 0; i < nwarnings; i++) {
        put_s("W ");
        put_s(warnings[i].what);
        if (warnings[i].len) {
            put_s(": ");
            put_n(warnings[i].tok, warnings[i].len);
        }
        put_end();
    }

    if (npages == 0) {
        put_s("W no usable test memory");
        put_end();
        halt();
    }
    run();
}
