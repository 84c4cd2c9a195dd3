#include "textflag.h"

// func prefetchBucket(b *bucket)
TEXT ·prefetchBucket(SB), NOSPLIT|NOFRAME, $0-8
	MOVD b+0(FP), R0
	PRFM (R0), PLDL1KEEP
	RET

// func prefetchEntry(e *entry)
TEXT ·prefetchEntry(SB), NOSPLIT|NOFRAME, $0-8
	MOVD e+0(FP), R0
	PRFM (R0), PLDL1KEEP
	PRFM 64(R0), PLDL1KEEP
	PRFM 128(R0), PLDL1KEEP
	RET
