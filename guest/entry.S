/*
 * entry.S - multiboot v1 entry of the cpr test guest.
 *
 * The loader (QEMU -kernel) enters _start in 32-bit protected mode, paging
 * off, EAX = multiboot magic, EBX = physical address of the multiboot info.
 * We build page tables identity-mapping the first 64 GiB with 2 MiB pages,
 * switch to long mode and call guest_main(magic, info) in C.
 */

#define MB_HDR_MAGIC    0x1BADB002
#define MB_HDR_FLAGS    0x00000002      /* bit 1: we want the memory map */

#define PT_P            0x001           /* present */
#define PT_RW           0x002           /* writable */
#define PT_PS           0x080           /* 2 MiB page (in a PD entry) */
#define N_PD            64              /* 64 page directories x 1 GiB */

#define CR0_PE          0x00000001
#define CR0_PG          0x80000000
#define CR4_PAE         0x00000020
#define MSR_EFER        0xC0000080
#define EFER_LME        0x00000100

#define SEL_CODE64      0x08
#define SEL_DATA        0x10

/* The linker script puts this section first: the header must be in the
   first 8 KiB of the file and 4-byte aligned. */
        .section .multiboot, "a"
        .balign 4
        .long   MB_HDR_MAGIC
        .long   MB_HDR_FLAGS
        .long   -(MB_HDR_MAGIC + MB_HDR_FLAGS)

        .section .text.entry, "ax"
        .code32
        .globl  _start
_start:
        cli
        cld
        movl    %eax, %ebp              /* multiboot magic (rep stos keeps ebp) */
        movl    %ebx, %esi              /* multiboot info (and esi) */

        /* Zero .bss ourselves (page tables, stack, C data): QEMU zero-fills
           it too, but it costs nothing not to depend on the loader. */
        movl    $__bss_start, %edi
        movl    $__bss_end, %ecx
        subl    %edi, %ecx
        shrl    $2, %ecx
        xorl    %eax, %eax
        rep stosl

        /* PML4[0] -> PDPT */
        movl    $pdpt + (PT_P | PT_RW), pml4

        /* PDPT[k] -> PD k, k = 0..63 (upper halves are already zero) */
        xorl    %ecx, %ecx
1:      movl    %ecx, %eax
        shll    $12, %eax
        addl    $pd + (PT_P | PT_RW), %eax
        movl    %eax, pdpt(, %ecx, 8)
        incl    %ecx
        cmpl    $N_PD, %ecx
        jb      1b

        /* PD entry n maps physical n * 2 MiB, n = 0 .. 64*512-1 */
        xorl    %ecx, %ecx
2:      movl    %ecx, %eax
        shll    $21, %eax
        orl     $(PT_P | PT_RW | PT_PS), %eax
        movl    %eax, pd(, %ecx, 8)
        movl    %ecx, %eax
        shrl    $11, %eax               /* bits 32.. of n * 2 MiB */
        movl    %eax, pd + 4(, %ecx, 8)
        incl    %ecx
        cmpl    $(N_PD * 512), %ecx
        jb      2b

        /* PAE, then EFER.LME, then paging: long mode (compatibility) */
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    %cr4, %eax
        orl     $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $EFER_LME, %eax
        wrmsr
        lgdt    gdt_desc
        movl    %cr0, %eax
        orl     $(CR0_PE | CR0_PG), %eax
        movl    %eax, %cr0
        ljmp    $SEL_CODE64, $long_entry

        .code64
long_entry:
        movl    $SEL_DATA, %eax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    %ax, %fs
        movw    %ax, %gs
        movq    $stack_top, %rsp
        /* 32-bit moves zero-extend: upper register halves are undefined
           after the mode switch. */
        movl    %ebp, %edi
        movl    %esi, %esi
        xorl    %ebp, %ebp
        call    guest_main
3:      cli
        hlt
        jmp     3b

        .section .rodata
        .balign 8
gdt:
        .quad   0                       /* null */
        .quad   0x00AF9A000000FFFF      /* 0x08: code, 64-bit (L=1), DPL 0 */
        .quad   0x00CF92000000FFFF      /* 0x10: data, flat, writable */
gdt_end:
        .balign 4
gdt_desc:                               /* loaded in 32-bit mode: 6 bytes */
        .word   gdt_end - gdt - 1
        .long   gdt

        .section .bss
        .balign 4096
pml4:   .skip   4096
pdpt:   .skip   4096
pd:     .skip   4096 * N_PD
        .balign 16
stack:  .skip   65536
stack_top:

        .section .note.GNU-stack, "", @progbits
