// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	_ "unsafe" // go:linkname

	"github.com/ferry-hv/ferry/cpu"
)

// Randomness: FEAT_RNG (RNDR) where the CPU has it. Otherwise a ChaCha8
// generator, seeded first from counter jitter (the runtime wants random bytes
// before the DTB can be read) and then, in hwinit1, from the DTB's
// /chosen/rng-seed (QEMU's 32 bytes from the host's entropy; U-Boot's from
// the SoC's RNG where it has one).
var (
	useRNDR bool
	drbg    rand.ChaCha8
)

//go:linkname initRNG runtime/goos.InitRNG
func initRNG() {
	useRNDR = cpu.HasRNDR()
	if !useRNDR {
		var seed [32]byte
		for i := 0; i < len(seed); i += 8 {
			binary.LittleEndian.PutUint64(seed[i:], cpu.ReadCNTPCT_EL0())
		}
		drbg.Seed(seed)
	}
}

//go:linkname getRandomData runtime/goos.GetRandomData
func getRandomData(b []byte) {
	if !useRNDR {
		drbg.Read(b)
		return
	}
	for i := 0; i < len(b); {
		v, ok := cpu.RNDR()
		if !ok {
			continue
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], v)
		i += copy(b[i:], w[:])
	}
}

// SeedRNG reseeds the generator from the DTB's /chosen/rng-seed (hwinit1,
// once the DTB is read); nothing to do with RNDR.
func SeedRNG(dtbSeed []byte) {
	if useRNDR {
		return
	}
	if len(dtbSeed) == 0 {
		print("ferry: warning: no RNDR and no /chosen/rng-seed: randomness comes from counter jitter only\n")
	}
	var cnt [8]byte
	binary.LittleEndian.PutUint64(cnt[:], cpu.ReadCNTPCT_EL0())
	var old [32]byte
	drbg.Read(old[:])
	drbg.Seed(sha256.Sum256(append(append(old[:], dtbSeed...), cnt[:]...)))
}

// UsesRNDR reports whether randomness comes from FEAT_RNG.
func UsesRNDR() bool { return useRNDR }
