// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferryctl is the operator's tool for Ferry's management network.
//
//	ferryctl keys -out build/keys -ca ferry board1=10.77.0.11 board2=10.77.0.12 ctl
//	ferryctl status 10.77.0.11
//	ferryctl wait -timeout 2m 10.77.0.11
//	ferryctl migrate -downtime 30ms -bandwidth 50MiB -max-time 5m 10.77.0.11 10.77.0.12
//	ferryctl cancel 10.77.0.11
//	ferryctl resolve 10.77.0.11 10.77.0.12
//	ferryctl revoke -dir build/keys lost-laptop && ferryctl crl 10.77.0.11 10.77.0.12
//
// A migration belongs to the board that runs it: interrupting ferryctl
// migrate (Ctrl-C) stops ferryctl only, and the migration goes on; ferryctl
// cancel is the way to stop it. Every migration has an ID, which ferryctl
// picks and writes in its journal (-journal) with the verdict the report
// gives; a migration left in doubt by a partition or a dead board (both
// boards keep the guest, neither runs it) is ended by ferryctl resolve.
//
// Every command but keys joins the management link as a host of its own
// (package hostnet: a userspace netstack on a port of ferry-switch, reached
// on a 127.0.0.1 TCP port) and talks HTTPS with mutual TLS 1.3 (package
// pki) to the boards' management API on port 7000 (package api). Nothing
// is sent on the host's own network.
//
// Global flags, accepted before or right after the command name:
//
//	-switch 127.0.0.1:7777   the management switch
//	-ip 10.77.0.2/24         ferryctl's address on the link
//	-keys build/keys/ctl.pem ferryctl's PEM bundle
//	-mtu 1500                ferryctl's MTU on the link
//	-journal FILE            ferryctl's record of its migrations
//
// Exit status: 0 on success, 1 on failure (the error on stderr), 2 for a
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-hv/ferry/internal/hostnet"
	gvlog "gvisor.dev/gvisor/pkg/log"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every command accepts.
type globals struct {
	sw    string
	ip    string
	ipSet bool // -ip given: use exactly that address
	keys  string
	mtu   int
	v     bool // show the netstack's own log

	journal string // ferryctl's record of its migrations
}

// spareAddrs is how many addresses after the default -ip ferryctl tries
// when another ferryctl holds it (e.g. a migrate still running).
const spareAddrs = 7

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.sw, "switch", hostnet.DefaultSwitch, "the management switch's loopback `address`")
	fs.StringVar(&g.ip, "ip", hostnet.DefaultAddr, "ferryctl's `address/prefix` on the management link")
	fs.StringVar(&g.keys, "keys", "build/keys/ctl.pem", "ferryctl's PEM `bundle` (CA certificate, certificate, PKCS#8 key)")
	fs.IntVar(&g.mtu, "mtu", hostnet.DefaultMTU, "ferryctl's `MTU` on the management link")
	fs.BoolVar(&g.v, "v", false, "show the userspace netstack's (gVisor's) own warnings")
	fs.StringVar(&g.journal, "journal", "", "ferryctl's record of the migrations it asked for, a `file` (default $XDG_STATE_HOME/ferry/journal.jsonl or ~/.local/state/ferry/journal.jsonl)")
}

// quiet drops gVisor's log lines: ferryctl reports failures itself.
type quiet struct{}

func (quiet) Emit(int, gvlog.Level, time.Time, string, ...any) {}

// command is one subcommand.
type command struct {
	usage string // arguments, after the command name
	help  string
	// flags registers the command's own flags and returns the function
	// that runs it with the remaining arguments.
	flags func(fs *flag.FlagSet, e *env) func(args []string) error
}

var commands = map[string]command{
	"keys":    keysCommand,
	"status":  statusCommand,
	"wait":    waitCommand,
	"migrate": migrateCommand,
	"cancel":  cancelCommand,
	"resolve": resolveCommand,
	"revoke":  revokeCommand,
	"crl":     crlCommand,
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	g      globals
	stdout io.Writer
	stderr io.Writer
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	top := flag.NewFlagSet("ferryctl", flag.ContinueOnError)
	top.SetOutput(stderr)
	e.g.register(top)
	top.Usage = func() { usage(stderr, top) }
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if top.NArg() == 0 {
		usage(stderr, top)
		return 2
	}
	name := top.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "ferryctl: unknown command %q\n", name)
		usage(stderr, top)
		return 2
	}
	// The global flags given before the command are the defaults after it.
	given := map[string]string{}
	top.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	fs := flag.NewFlagSet("ferryctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e.g.register(fs) // resets e.g to the defaults
	for n, v := range given {
		fs.Set(n, v)
	}
	runCmd := cmd.flags(fs, e)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ferryctl %s [flags] %s\n%s\n", name, cmd.usage, cmd.help)
		fs.PrintDefaults()
	}
	if err := fs.Parse(top.Args()[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fs.Visit(func(f *flag.Flag) { e.g.ipSet = e.g.ipSet || f.Name == "ip" })
	if !e.g.v {
		gvlog.SetTarget(quiet{})
	}
	if err := runCmd(fs.Args()); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "ferryctl %s: %v\n", name, err)
			fs.Usage()
			return 2
		}
		fmt.Fprintf(stderr, "ferryctl %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer, top *flag.FlagSet) {
	fmt.Fprintf(w, "usage: ferryctl [global flags] command [flags] args\n\ncommands:\n")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", n, commands[n].usage, commands[n].help)
	}
	fmt.Fprintf(w, "\nglobal flags:\n")
	top.PrintDefaults()
}

// linkConfig is the hostnet configuration the global flags describe.
func (e *env) linkConfig() (hostnet.Config, error) {
	p, err := netip.ParsePrefix(e.g.ip)
	if err != nil || !p.Addr().Is4() {
		return hostnet.Config{}, usageError{fmt.Sprintf("-ip %q: want an IPv4 address/prefix such as %s", e.g.ip, hostnet.DefaultAddr)}
	}
	return hostnet.Config{
		Switch: e.g.sw,
		Addr:   p,
		MTU:    e.g.mtu,
		Logf:   func(format string, args ...any) { fmt.Fprintf(e.stderr, "ferryctl: "+format+"\n", args...) },
	}, nil
}

// apiAddr makes a board address host:port, port 7000 if not given.
func apiAddr(s string, port int) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return "", usageError{fmt.Sprintf("%q: want a board's IPv4 address, optionally with :port", s)}
	}
	return netip.AddrPortFrom(a, uint16(port)).String(), nil
}

// durationString prints durations rounded for people.
func durationString(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.String()
}

// bytesString prints a byte count in binary units, with the exact count.
func bytesString(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", f, units[i], n)
}

// oneLine trims a server's error body for an error message.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
