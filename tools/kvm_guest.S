/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest program of gmem-kvm: 64-bit code, position-independent, so
 * the VMM copies it to any guest address and jumps there in long mode.
 *
 * Entry: %rdi guest RAM bytes, %rsi content policy (0 PRESERVE,
 * 1 DISCARD). Requests go to the VMM with "out %al, $0x10": %rax the
 * request, %rdi a guest-physical address, %rsi a length, %rdx an
 * argument; the VMM answers in %rax (0: done as asked).
 *
 * For each range of the table that fits in RAM (all start shared), the
 * guest writes a pattern, has the VMM check it, has the range made
 * private, has the VMM confirm it can no longer read it, checks its own
 * data, writes a second pattern, has the range made shared again, and
 * checks with the VMM what both see. A last pass checks every range
 * again, so no conversion disturbed another range. Any mismatch ends the
 * run with the number of the failing step.
 */
#define REQ_SHARE	1
#define REQ_UNSHARE	2
#define REQ_CHECK	3	/* %rdx: pattern seed, 0 for zeros */
#define REQ_CLOSED	4
#define REQ_SUM		5	/* %rdx: the guest's checksum */
#define REQ_DONE	6	/* %rdi: 0, or the failing step */

	.section .rodata.kvm_guest, "a"
	.globl gmem_kvm_guest_start, gmem_kvm_guest_end
	.code64

/* One request; the answer in %rax. */
.macro REQ n
	mov $\n, %eax
	out %al, $0x10
.endm

/* Ends the run at step %r13 unless %rax is 0. */
.macro EXPECT_OK
	inc %r13
	test %rax, %rax
	jnz fail
.endm

/* %rdx = the seed the range holds after leaving state: kept, or zeros. */
.macro KEPT seed_off
	mov \seed_off(%rbx), %rdx
	test %r15, %r15
	jz 1f
	xor %edx, %edx
1:
.endm

/* Loads the range at %rbx into %r12 (gpa) and %rbp (length); jumps to
 * end at the table's end, to skip if the range passes the RAM. */
.macro RANGE end, skip
	mov (%rbx), %r12
	test %r12, %r12
	jz \end
	mov 8(%rbx), %rbp
	lea (%r12, %rbp), %rax
	cmp %r14, %rax
	ja \skip
.endm

gmem_kvm_guest_start:
	mov %rdi, %r14			/* RAM bytes */
	mov %rsi, %r15			/* policy */
	xor %r13d, %r13d		/* step */
	lea ranges(%rip), %rbx
range:
	RANGE final, skip

	mov 16(%rbx), %rdx		/* pattern A, written shared */
	call fill
	mov 16(%rbx), %rdx
	call args
	REQ REQ_CHECK
	EXPECT_OK

	call args
	REQ REQ_UNSHARE
	EXPECT_OK
	call args
	REQ REQ_CLOSED
	EXPECT_OK
	KEPT 16				/* own data, now private */
	call verify
	EXPECT_OK

	mov 24(%rbx), %rdx		/* pattern B, written private */
	call fill
	call args
	REQ REQ_SHARE
	EXPECT_OK
	call agree
	EXPECT_OK
	call sum
	mov %rax, %rdx
	call args
	REQ REQ_SUM
	EXPECT_OK
skip:
	add $32, %rbx
	jmp range

final:					/* every range again */
	lea ranges(%rip), %rbx
again:
	RANGE done, next
	call agree
	EXPECT_OK
next:
	add $32, %rbx
	jmp again

done:
	xor %r13d, %r13d
fail:
	mov %r13, %rdi
	REQ REQ_DONE
	hlt
	jmp fail

/* %rax = 0 if the guest and the VMM both find pattern B where it should
 * be (or zeros, for DISCARD): the range's final contents. */
agree:
	KEPT 24
	call verify
	test %rax, %rax
	jnz 2f
	KEPT 24
	call args
	REQ REQ_CHECK
2:	ret

/* %rdi, %rsi = the current range; %rdx kept. */
args:
	mov %r12, %rdi
	mov %rbp, %rsi
	ret

/*
 * Each page of a range carries its pattern in its first and last
 * quadwords (addr ^ seed), the rest staying zero: the VMM checks whole
 * pages, and the guest, whose every instruction may be emulated, does
 * little per page.
 */
#define LAST 4088

/* Writes seed %rdx's pattern to every page of the range. */
fill:
	mov %r12, %rdi
	lea (%r12, %rbp), %rcx
1:	mov %rdi, %rax
	xor %rdx, %rax
	mov %rax, (%rdi)
	lea LAST(%rdi), %rax
	xor %rdx, %rax
	mov %rax, LAST(%rdi)
	add $4096, %rdi
	cmp %rcx, %rdi
	jb 1b
	ret

/* %rax = 0 if every page holds seed %rdx's pattern (zeros for 0). */
verify:
	mov %r12, %rdi
	lea (%r12, %rbp), %rcx
	xor %r9d, %r9d			/* %r9: all ones, or 0 for seed 0 */
	test %rdx, %rdx
	setnz %r9b
	neg %r9
1:	mov %rdi, %rax
	xor %rdx, %rax
	and %r9, %rax
	cmp (%rdi), %rax
	jne 2f
	lea LAST(%rdi), %rax
	xor %rdx, %rax
	and %r9, %rax
	cmp LAST(%rdi), %rax
	jne 2f
	add $4096, %rdi
	cmp %rcx, %rdi
	jb 1b
	xor %eax, %eax
	ret
2:	mov $1, %eax
	ret

/* %rax = the checksum of the patterned quadwords: rotate left by one,
 * add the first, rotate, add the last, page by page. */
sum:
	mov %r12, %rdi
	lea (%r12, %rbp), %rcx
	xor %eax, %eax
1:	rol $1, %rax
	add (%rdi), %rax
	rol $1, %rax
	add LAST(%rdi), %rax
	add $4096, %rdi
	cmp %rcx, %rdi
	jb 1b
	ret

	.balign 8
/* gpa, length, pattern A, pattern B */
ranges:
	.quad 0x200000, 0x1000, 0xa5a5000000000001, 0x5a5a000000000001
	.quad 0x210000, 0x10000, 0xa5a5000000000002, 0x5a5a000000000002
	.quad 0x400000, 0x200000, 0xa5a5000000000003, 0x5a5a000000000003
	.quad 0x40000000, 0x40000000, 0xa5a5000000000004, 0x5a5a000000000004
	.quad 0, 0, 0, 0
gmem_kvm_guest_end:

	.section .note.GNU-stack, "", @progbits
