// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The -tcg-insns probe: scripts/tcg-insns/insns.c, a QEMU TCG plugin, on
// every board of the network bench counts the instructions of the guest's
// kernel, of its user space and of Ferry (by translation block), dumped
// around each stream. Instructions do not drift with this host as its
// timings do: they show what Ferry adds to a packet's path, and where.

// insnsPlugin builds the plugin into dir and returns its path.
func insnsPlugin(dir string) (string, error) {
	so := filepath.Join(dir, "insns.so")
	out, err := exec.Command("gcc", "-O2", "-shared", "-fPIC", "-o", so, "scripts/tcg-insns/insns.c", "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the TCG plugin (gcc): %v: %s", err, out)
	}
	return so, nil
}

// insnProbe is the plugin on one board.
type insnProbe struct {
	trigger, out string
	n            int      // dumps taken
	sum          insnDump // what ran between the pairs of dumps added
}

// newInsnProbe returns a probe writing under dir as name, and the QEMU
// arguments that load it; text is Ferry's text [lo, hi), or zero.
func newInsnProbe(plugin, dir, name string, text [2]uint64) (*insnProbe, []string) {
	p := &insnProbe{trigger: filepath.Join(dir, name+".trigger"), out: filepath.Join(dir, name)}
	arg := fmt.Sprintf("%s,trigger=%s,out=%s,lo=%x,hi=%x", plugin, p.trigger, p.out, text[0], text[1])
	return p, []string{"-plugin", arg}
}

// insnDump is one dump: the totals, and Ferry's blocks' instructions
// (instructions x executions) and executions by address.
type insnDump struct {
	kern, user, ferry uint64
	insns, execs      map[uint64]uint64
}

// dump has the plugin write its counts and reads them.
func (p *insnProbe) dump() (insnDump, error) {
	if err := os.WriteFile(p.trigger, nil, 0o644); err != nil {
		return insnDump{}, err
	}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(p.trigger); err != nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			return insnDump{}, fmt.Errorf("the TCG plugin did not answer %s", p.trigger)
		}
	}
	f, err := os.Open(fmt.Sprintf("%s.%d", p.out, p.n))
	p.n++
	if err != nil {
		return insnDump{}, err
	}
	defer f.Close()
	d := insnDump{insns: map[uint64]uint64{}, execs: map[uint64]uint64{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 7 && w[0] == "#" {
			d.kern, _ = strconv.ParseUint(w[2], 10, 64)
			d.user, _ = strconv.ParseUint(w[4], 10, 64)
			d.ferry, _ = strconv.ParseUint(w[6], 10, 64)
			continue
		}
		if len(w) != 4 {
			continue
		}
		va, _ := strconv.ParseUint(w[0], 16, 64)
		n, _ := strconv.ParseUint(w[1], 10, 64)
		e, _ := strconv.ParseUint(w[2], 10, 64)
		d.insns[va] += n * e
		d.execs[va] += e
	}
	return d, sc.Err()
}

// reset zeroes the sums: a new measurement begins.
func (p *insnProbe) reset() { p.sum = insnDump{} }

// add adds what ran between dumps a and b.
func (p *insnProbe) add(a, b insnDump) {
	if p.sum.insns == nil {
		p.sum.insns, p.sum.execs = map[uint64]uint64{}, map[uint64]uint64{}
	}
	p.sum.kern += b.kern - a.kern
	p.sum.user += b.user - a.user
	p.sum.ferry += b.ferry - a.ferry
	for va, n := range b.insns {
		p.sum.insns[va] += n - a.insns[va]
		p.sum.execs[va] += b.execs[va] - a.execs[va]
	}
}

// InsnCount is what a configuration's streams executed, per MiB echoed.
type InsnCount struct {
	KernPerMiB  float64     `json:"kernel_per_mib"`
	UserPerMiB  float64     `json:"user_per_mib"`
	FerryPerMiB float64     `json:"ferry_per_mib"`
	Top         []FuncInsns `json:"ferry_top,omitempty"`
}

// FuncInsns is one of Ferry's functions: its instructions per MiB, and
// per call (executions of its entry block; 0: never entered there, as
// the exception vectors).
type FuncInsns struct {
	Name    string  `json:"name"`
	PerMiB  float64 `json:"per_mib"`
	PerCall float64 `json:"per_call"`
}

// count is the probe's sums per MiB of mib, Ferry's blocks attributed to
// the functions of syms.
func (p *insnProbe) count(mib float64, syms []elf.Symbol) *InsnCount {
	c := &InsnCount{KernPerMiB: float64(p.sum.kern) / mib, UserPerMiB: float64(p.sum.user) / mib, FerryPerMiB: float64(p.sum.ferry) / mib}
	byFunc, calls := map[string]uint64{}, map[string]uint64{}
	for va, n := range p.sum.insns {
		k := sort.Search(len(syms), func(i int) bool { return syms[i].Value > va }) - 1
		if k < 0 {
			continue
		}
		byFunc[syms[k].Name] += n
		if syms[k].Value == va {
			calls[syms[k].Name] += p.sum.execs[va]
		}
	}
	for name, n := range byFunc {
		f := FuncInsns{Name: name, PerMiB: float64(n) / mib}
		if calls[name] > 0 {
			f.PerCall = float64(n) / float64(calls[name])
		}
		c.Top = append(c.Top, f)
	}
	sort.Slice(c.Top, func(i, j int) bool { return c.Top[i].PerMiB > c.Top[j].PerMiB })
	c.Top = c.Top[:min(len(c.Top), 15)]
	return c
}

// insnSetup is the plugin and what reads its counts, for a bench run.
type insnSetup struct {
	plugin, dir string
	text        [2]uint64
	syms        []elf.Symbol
}

// newInsnSetup builds the plugin into a new directory, for Ferry's image.
func newInsnSetup(image string) (*insnSetup, error) {
	dir, err := os.MkdirTemp("", "ferry-insns")
	if err != nil {
		return nil, err
	}
	so, err := insnsPlugin(dir)
	if err != nil {
		return nil, err
	}
	text, syms, err := ferryText(image)
	if err != nil {
		return nil, err
	}
	return &insnSetup{plugin: so, dir: dir, text: text, syms: syms}, nil
}

// probe returns a probe for the board name and the QEMU arguments that
// load it; a board without Ferry counts the guest's instructions only.
func (s *insnSetup) probe(name string, ferry bool) (*insnProbe, []string) {
	text := [2]uint64{}
	if ferry {
		text = s.text
	}
	return newInsnProbe(s.plugin, s.dir, name, text)
}

// ferryText is the text of Ferry's ELF (beside its Image) and its
// function symbols by address.
func ferryText(image string) ([2]uint64, []elf.Symbol, error) {
	path := strings.TrimSuffix(image, ".img") + ".elf"
	f, err := elf.Open(path)
	if err != nil {
		return [2]uint64{}, nil, err
	}
	defer f.Close()
	var text [2]uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			text = [2]uint64{p.Vaddr, p.Vaddr + p.Memsz}
		}
	}
	all, err := f.Symbols()
	if err != nil {
		return text, nil, err
	}
	var syms []elf.Symbol
	for _, s := range all {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC || s.Section < elf.SectionIndex(len(f.Sections)) && f.Sections[s.Section].Flags&elf.SHF_EXECINSTR != 0 {
			syms = append(syms, s)
		}
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].Value < syms[j].Value })
	return text, syms, nil
}
