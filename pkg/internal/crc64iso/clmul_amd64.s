#include "textflag.h"

// func foldCLMUL(r uint64, p []byte, k *[4]uint64) (lo, hi uint64)
//
// Four 128-bit accumulators each fold onto the block 64 bytes further on
// (k[0], k[1]: x^575 and x^511 mod P), then onto each other (k[2], k[3]:
// x^191 and x^127 mod P). Each constant is one power of x short: the
// carry-less product of two reflected 64-bit values lands one bit low.
// The loop follows hash/crc32's ieeeCLMUL.
TEXT ·foldCLMUL(SB), NOSPLIT, $0-56
	MOVQ  r+0(FP), X0
	MOVQ  p_base+8(FP), SI
	MOVQ  p_len+16(FP), CX
	MOVQ  k+32(FP), AX
	MOVOU (SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	PXOR  X0, X1
	ADDQ  $64, SI
	SUBQ  $64, CX
	MOVOU (AX), X0
	CMPQ  CX, $64
	JB    merge

loop:
	MOVOA     X1, X5
	MOVOA     X2, X6
	MOVOA     X3, X7
	MOVOA     X4, X8
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x00, X0, X2
	PCLMULQDQ $0x00, X0, X3
	PCLMULQDQ $0x00, X0, X4
	MOVOU     (SI), X11
	MOVOU     16(SI), X12
	MOVOU     32(SI), X13
	MOVOU     48(SI), X14
	PCLMULQDQ $0x11, X0, X5
	PCLMULQDQ $0x11, X0, X6
	PCLMULQDQ $0x11, X0, X7
	PCLMULQDQ $0x11, X0, X8
	PXOR      X5, X1
	PXOR      X6, X2
	PXOR      X7, X3
	PXOR      X8, X4
	PXOR      X11, X1
	PXOR      X12, X2
	PXOR      X13, X3
	PXOR      X14, X4
	ADDQ      $64, SI
	SUBQ      $64, CX
	CMPQ      CX, $64
	JAE       loop

merge:
	MOVOU     16(AX), X0
	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X2, X1
	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X3, X1
	MOVOA     X1, X5
	PCLMULQDQ $0x00, X0, X1
	PCLMULQDQ $0x11, X0, X5
	PXOR      X5, X1
	PXOR      X4, X1
	MOVQ      X1, AX
	MOVQ      AX, lo+40(FP)
	PEXTRQ    $1, X1, AX
	MOVQ      AX, hi+48(FP)
	RET
