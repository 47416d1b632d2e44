// Package cpu is Ferry's EL2 CPU support: system-register accessors, the
// boot entry point, exception syndrome decoding, cache and TLB maintenance,
// and the generic timer as seen from EL2.
//
// It knows the ARMv8-A processor and nothing else: no board addresses, no
// guest policy. Accessors (ReadHCR_EL2, WriteVTTBR_EL2, ...) are generated
// from internal/sysregtab by `go generate`; only they and a few maintenance
// routines are assembly.
package cpu

//go:generate go run ./internal/gensysreg
