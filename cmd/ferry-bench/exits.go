// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"fmt"
	"strings"

	"github.com/ferry-hv/ferry/api"
)

// Exits are a board's exits between two of its statuses: per second by
// cause, and the mean time Ferry took to handle one of each cause (the
// status's exit_ns: from the exit to the end of its handling, not the
// world switch).
type Exits struct {
	PerSecond float64            `json:"per_s"`
	Count     uint64             `json:"count"`
	Rates     map[string]float64 `json:"rates,omitempty"`   // per second, by cause
	MeanUS    map[string]float64 `json:"mean_us,omitempty"` // µs per exit, by cause
}

// exitsBetween are the exits from a to b, statuses of one board.
func exitsBetween(a, b api.Status) Exits {
	e := Exits{Rates: map[string]float64{}, MeanUS: map[string]float64{}}
	dt := (b.Uptime - a.Uptime).Seconds()
	if dt <= 0 {
		return e
	}
	for k, n := range b.ExitCauses {
		if n <= a.ExitCauses[k] {
			continue
		}
		d := n - a.ExitCauses[k]
		e.Count += d
		e.Rates[k] = float64(d) / dt
		if ns := b.ExitNanos[k]; ns > a.ExitNanos[k] {
			e.MeanUS[k] = float64(ns-a.ExitNanos[k]) / float64(d) / 1000
		}
	}
	e.PerSecond = float64(e.Count) / dt
	return e
}

// String is the causes by rate: "irq 12.00/s at 8.1µs, mgmt-nic 0.03/s".
func (e Exits) String() string {
	var parts []string
	for _, k := range sortedKeys(e.Rates) {
		s := fmt.Sprintf("%s %.2f/s", k, e.Rates[k])
		if us, ok := e.MeanUS[k]; ok {
			s += fmt.Sprintf(" at %.1fµs", us)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// totalExits is the sum of a status's exits by cause.
func totalExits(st api.Status) uint64 {
	var n uint64
	for _, v := range st.ExitCauses {
		n += v
	}
	return n
}
