// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var systemColor = map[string]color.Color{
	sysFerry:    color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	sysQEMU:     color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	sysQEMU30ms: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

var systemName = map[string]string{sysFerry: "Ferry", sysQEMU: "QEMU", sysQEMU30ms: "QEMU 30 ms"}

// rateOf is a row's x: the dirty rate the guest achieved before the
// migration (what "max" reached), 0 for an idle guest.
func rateOf(r Row) float64 {
	if r.RateMiB == 0 {
		return 0
	}
	if r.RateBefore > 0 {
		return r.RateBefore
	}
	return float64(r.RateMiB)
}

// series groups the rows with a result into one line per system and guest
// size, sorted by rate.
type seriesKey struct {
	System   string
	GuestMiB int
}

func series(rs []Row) (keys []seriesKey, pts map[seriesKey]plotter.XYs) {
	pts = map[seriesKey]plotter.XYs{}
	for _, r := range rs {
		if r.OK == 0 || r.GapS <= 0 {
			continue
		}
		k := seriesKey{r.System, r.GuestMiB}
		if _, ok := pts[k]; !ok {
			keys = append(keys, k)
		}
		pts[k] = append(pts[k], plotter.XY{X: rateOf(r), Y: r.GapS * 1e3})
	}
	for _, k := range keys {
		sort.Slice(pts[k], func(i, j int) bool { return pts[k][i].X < pts[k][j].X })
	}
	return keys, pts
}

// plotMigration draws the guest-observed gap against the dirty rate, one
// line per system and guest size, on a log scale.
func plotMigration(path string, rs []Row) error {
	p := plot.New()
	p.Title.Text = "Guest-observed gap (largest heartbeat gap) against dirty rate"
	p.X.Label.Text = "guest dirty rate before the migration, MiB/s (achieved)"
	p.Y.Label.Text = "guest-observed gap, ms"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	keys, pts := series(rs)
	// Head room above the data for the legend.
	if lo, hi := yRange(pts); lo > 0 && hi/lo > 20 {
		// Stop-and-copy seconds beside pre-copy milliseconds.
		p.Y.Label.Text += " (log)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = lo/1.5, hi*math.Pow(hi/lo, 0.6)
	} else if hi > 0 {
		p.Y.Min, p.Y.Max = 0, hi*1.6
	}
	dashes := [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}
	sizes := map[int]int{} // guest size -> dash pattern
	for _, k := range keys {
		if _, ok := sizes[k.GuestMiB]; !ok {
			sizes[k.GuestMiB] = len(sizes)
		}
		l, s, err := plotter.NewLinePoints(pts[k])
		if err != nil {
			return err
		}
		c := systemColor[k.System]
		l.Color, s.Color = c, c
		l.Dashes = dashes[sizes[k.GuestMiB]%len(dashes)]
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(fmt.Sprintf("%s, %d MiB", systemName[k.System], k.GuestMiB), l, s)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// yRange is the smallest and largest y of all series (0, 0 if none).
func yRange(pts map[seriesKey]plotter.XYs) (lo, hi float64) {
	for _, xys := range pts {
		for _, p := range xys {
			if lo == 0 || p.Y < lo {
				lo = p.Y
			}
			if p.Y > hi {
				hi = p.Y
			}
		}
	}
	return lo, hi
}
