// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package l2switch

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// PortStats are one port's counters.
type PortStats struct {
	ID       int
	Remote   string    // the peer's address
	Opened   time.Time // when the port was attached
	MACs     []string  // source addresses learned on this port
	RxFrames uint64    // frames received from the peer (runts included)
	RxBytes  uint64
	TxFrames uint64 // frames written to the peer
	TxBytes  uint64
	Dropped  uint64 // frames to this port dropped because its queue was full
	Runts    uint64 // frames from the peer shorter than an Ethernet header, dropped
	Cut      uint64 // frames from or to the port dropped while its link was down (SetLink)
	Queued   int    // frames waiting in the output queue
	Closed   string // why the port closed; empty while it is open
}

// Stats is a snapshot of the switch's counters.
type Stats struct {
	Ports    []PortStats // open ports, then recently closed ones, by ID
	Flooded  uint64      // frames flooded: broadcast, multicast or unknown destination
	Filtered uint64      // unicast frames not forwarded: destination on the incoming port
}

func (p *port) stats() PortStats {
	return PortStats{
		ID:       p.id,
		Remote:   p.remote,
		Opened:   p.opened,
		RxFrames: p.rxFrames.Load(),
		RxBytes:  p.rxBytes.Load(),
		TxFrames: p.txFrames.Load(),
		TxBytes:  p.txBytes.Load(),
		Dropped:  p.dropped.Load(),
		Runts:    p.runts.Load(),
		Cut:      p.cut.Load(),
		Queued:   len(p.out),
	}
}

// Stats returns a snapshot of the switch's counters.
func (s *Switch) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Flooded: s.flooded, Filtered: s.filtered}
	for _, p := range s.ports {
		st.Ports = append(st.Ports, p.stats())
	}
	for mac, p := range s.macs {
		for i := range st.Ports {
			if st.Ports[i].ID == p.id {
				st.Ports[i].MACs = append(st.Ports[i].MACs, mac.String())
			}
		}
	}
	for i := range st.Ports {
		slices.Sort(st.Ports[i].MACs)
	}
	slices.SortFunc(st.Ports, func(a, b PortStats) int { return a.ID - b.ID })
	for _, g := range s.gone {
		g.MACs = slices.Clone(g.MACs)
		slices.Sort(g.MACs)
		st.Ports = append(st.Ports, g)
	}
	return st
}

// Port returns the statistics of port id, open or recently closed.
func (st Stats) Port(id int) (PortStats, bool) {
	for _, p := range st.Ports {
		if p.ID == id {
			return p, true
		}
	}
	return PortStats{}, false
}

// Write prints the statistics as a table.
func (st Stats) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "port\tpeer\tstate\trx frames\trx bytes\ttx frames\ttx bytes\tdropped\trunts\tqueued\tMACs\n")
	for _, p := range st.Ports {
		state := "open"
		if p.Closed != "" {
			state = "closed: " + p.Closed
		}
		macs := strings.Join(p.MACs, ",")
		if macs == "" {
			macs = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n",
			p.ID, p.Remote, state, p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes, p.Dropped, p.Runts, p.Queued, macs)
	}
	fmt.Fprintf(tw, "flooded %d, filtered %d\n", st.Flooded, st.Filtered)
	return tw.Flush()
}
