// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

#include "textflag.h"

// func isb()
TEXT ·isb(SB),NOSPLIT,$0
	ISB	$15
	RET
