// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// binaryUnits are the suffixes of a byte count, largest first.
var binaryUnits = []struct {
	name string
	size uint64
}{
	{"GiB", 1 << 30},
	{"MiB", 1 << 20},
	{"KiB", 1 << 10},
	{"B", 1},
}

// bandwidthFlag is a -bandwidth value: bytes per second, written as a
// plain number or with a binary unit, "50MiB", "1.5GiB/s"; 0 is no cap.
type bandwidthFlag uint64

func (b *bandwidthFlag) String() string {
	if b == nil || *b == 0 {
		return "0"
	}
	for _, u := range binaryUnits {
		if uint64(*b)%u.size == 0 {
			return fmt.Sprintf("%d%s", uint64(*b)/u.size, u.name)
		}
	}
	return strconv.FormatUint(uint64(*b), 10)
}

func (b *bandwidthFlag) Set(s string) error {
	n, err := parseBandwidth(s)
	if err != nil {
		return err
	}
	*b = bandwidthFlag(n)
	return nil
}

// parseBandwidth reads a byte rate: a number, optionally followed by B,
// KiB, MiB or GiB and optionally by /s. Decimal units (MB, KB) are refused
// rather than guessed at.
func parseBandwidth(s string) (uint64, error) {
	num := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	unit := uint64(1)
	for _, u := range binaryUnits {
		if rest, ok := strings.CutSuffix(num, u.name); ok {
			num, unit = strings.TrimSpace(rest), u.size
			break
		}
	}
	if num == "" {
		return 0, fmt.Errorf("%q: want bytes per second, e.g. 50MiB, 1GiB, 10485760 (0: no cap)", s)
	}
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		if n > math.MaxUint64/unit {
			return 0, fmt.Errorf("%q: too large", s)
		}
		return n * unit, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsNaN(f) || strings.ContainsAny(num, "eExXpP_") {
		if unitLike.MatchString(num) {
			return 0, fmt.Errorf("%q: want a binary unit, KiB, MiB or GiB (bytes per second)", s)
		}
		return 0, fmt.Errorf("%q: want bytes per second, e.g. 50MiB, 1GiB, 10485760 (0: no cap)", s)
	}
	v := f * float64(unit)
	if v >= math.MaxUint64 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return uint64(math.Round(v)), nil
}

// unitLike is a number with a unit this parser does not take (MB, kib).
var unitLike = regexp.MustCompile(`^[0-9.]+\s*[a-zA-Z]+$`)

// rateString prints a rate in bytes per second in binary units.
func rateString(bps float64) string {
	if bps <= 0 || math.IsNaN(bps) || math.IsInf(bps, 0) {
		return "0 B/s"
	}
	return shortBytes(bps) + "/s"
}

// shortBytes prints a byte count in binary units, one decimal.
func shortBytes(n float64) string {
	for _, u := range binaryUnits[:3] {
		if n >= float64(u.size) {
			return fmt.Sprintf("%.1f %s", n/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%.0f B", n)
}

// percent prints a share 0..1 as a percentage.
func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }
