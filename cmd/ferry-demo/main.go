// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-demo is `make run`: two QEMU boards running Ferry on a
// management link over loopback, a guest booted on the first, then moved to
// the second with ferryctl, both consoles interleaved on standard output
// (prefixed [a] and [b]). With -data (the default) the guest also has its
// own NIC on a data segment, and a client there ([client]) keeps a TCP
// stream open through the guest's echo service before, during and after
// the move, checking every byte.
//
//	go run ./cmd/ferry-demo [-kernel build/guest/Image] [-initrd ...] [-append ...] [-m 1G]
//	    [-quiet 2s] [-settle 5s] [-silent 30s] [-ready REGEXP] [-after 8s] [-enter=true] [-data=true]
//
// Any arm64 Linux guest will do: the demo knows nothing of what it prints.
// The client connects while the guest settles; a guest whose echo service
// (port 7 of guest.ip=) has not answered within 45 s of its running is
// moved all the same, with a line saying the client was left out
// (-data=false leaves the data segment out altogether).
// It asks board a (ferryctl status) until the guest is running, then lets
// it settle -- until its console has been quiet for -quiet, at most -settle
// after its first line, or -silent after it was running if it prints
// nothing -- and runs `ferryctl migrate`. With -ready REGEXP it is moved
// when a console line matches instead (an error after 3 minutes without). After the move it watches board b for
// -after, pressing Enter on its console once (unless -enter=false) if the
// guest has printed nothing there by a quarter of that, then checks by
// ferryctl status that the guest runs on b (its exit count grows) and that
// board a gave it up. Exit status 1, with the reason, when any of that
// fails: a refused or failed migration included.
//
// Nothing the demo starts outlives it: QEMU and ferryctl are started with
// qemu.StartChild, and SIGINT, SIGTERM and SIGHUP stop them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

var out sync.Mutex

// prefixed copies a board's console to stdout, one line at a time.
type prefixed string

func (p prefixed) Write(b []byte) (int, error) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf("%s %s", p, b)
	return len(b), nil
}

func say(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf("\n=== "+format+"\n\n", args...)
}

// config is the demo's command line.
type config struct {
	base                   qemu.Board
	kernel, initrd, append string
	ferryctl, keys         string
	settle                 settle
	after                  time.Duration
	enter                  bool
	data                   bool
}

func main() {
	c := config{base: qemu.Board{QEMU: "qemu-system-aarch64"}}
	flag.StringVar(&c.base.CPU, "cpu", "max,pauth-impdef=on", "QEMU -cpu")
	flag.StringVar(&c.base.Memory, "m", "1G", "RAM of each board")
	flag.StringVar(&c.base.Image, "image", "build/ferry.img", "Ferry's arm64 Image (or its ELF with -insecure)")
	flag.BoolVar(&c.base.Insecure, "insecure", false, "boards without the GIC's security states or EL3 (secure=off)")
	flag.StringVar(&c.kernel, "kernel", "build/guest/Image", "guest kernel (any arm64 Linux Image)")
	flag.StringVar(&c.initrd, "initrd", "build/guest/initrd.cpio.gz", "guest initramfs")
	flag.StringVar(&c.append, "append", "console=ttyAMA0 quiet guest.mode=migrate guest.pattern_mb=32", "guest command line")
	flag.StringVar(&c.ferryctl, "ferryctl", "build/ferryctl", "ferryctl binary")
	flag.StringVar(&c.keys, "keys", "build/keys", "where the demo's keys are kept")
	flag.DurationVar(&c.settle.Quiet, "quiet", 2*time.Second, "move the guest once its console has been quiet this long")
	flag.DurationVar(&c.settle.Settle, "settle", 5*time.Second, "move the guest at the latest this long after its first console line")
	flag.DurationVar(&c.settle.Silent, "silent", 30*time.Second, "move a guest that prints nothing this long after it is running")
	ready := flag.String("ready", "", "move the guest when a line of its console matches this `regexp` (instead of -quiet, -settle, -silent)")
	flag.DurationVar(&c.after, "after", 8*time.Second, "how long to watch the guest on the second board")
	flag.BoolVar(&c.data, "data", true, "give the guest its own NIC on a data segment (guest.ip="+guestDataIP+"/24) and run a client there that talks to its TCP echo service (port 7) before, during and after the move")
	flag.BoolVar(&c.enter, "enter", true, "press Enter on board b's console if the guest has printed nothing there a quarter of -after after the move")
	flag.Parse()
	if *ready != "" {
		re, err := regexp.Compile(*ready)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ferry-demo: -ready:", err)
			os.Exit(2)
		}
		c.settle.Ready = re
	}
	qemu.KillOnSignal("ferry-demo")
	if err := run(c); err != nil {
		if !qemu.Stopping() {
			fmt.Fprintln(os.Stderr, "ferry-demo:", err)
		}
		qemu.Exit(1)
	}
	qemu.Exit(0)
}

func run(c config) error {
	if err := provision(c.keys); err != nil {
		return err
	}
	sw, swAddr, err := l2switch.Start()
	if err != nil {
		return err
	}
	defer sw.Close()
	var dataAddr string
	if c.data {
		data, addr, err := l2switch.Start()
		if err != nil {
			return err
		}
		defer data.Close()
		dataAddr = addr
		c.append += " guest.ip=" + guestDataIP + "/24"
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	boards := map[string]*qemu.Process{}
	for i, name := range []string{"a", "b"} {
		b := c.base
		b.Switch, b.Name = swAddr, name
		if c.data {
			b.DataSwitch, b.DataMAC = dataAddr, guestDataMAC
		}
		b.IP, b.MAC = fmt.Sprintf("10.77.0.%d/24", 11+i), fmt.Sprintf("52:54:00:77:00:%02x", 0x11+i)
		b.Keys = filepath.Join(c.keys, name+".pem")
		if name == "a" {
			b.Kernel, b.Initrd, b.Append = c.kernel, c.initrd, c.append
		}
		p, err := b.Start(ctx, prefixed("["+name+"]"))
		if err != nil {
			return err
		}
		defer p.Kill()
		boards[name] = p
	}
	a, b := boards["a"], boards["b"]
	// A board that exits ends every wait: ferryctl is given up at once.
	go func() {
		select {
		case <-a.Done():
		case <-b.Done():
		case <-ctx.Done():
		}
		cancel()
	}()
	ctl := ctl{bin: c.ferryctl, sw: swAddr, keys: filepath.Join(c.keys, "ctl.pem")}
	exited := func(err error) error {
		for _, name := range []string{"a", "b"} {
			select {
			case <-boards[name].Done():
				status := "exit status 0"
				if e := boards[name].ExitErr(); e != nil {
					status = e.Error()
				}
				return fmt.Errorf("board %s exited (%s; its console says why); %w", name, status, err)
			default:
			}
		}
		return err
	}

	say("board a (10.77.0.11) boots the guest; board b (10.77.0.12) waits for one")
	running, err := waitRunning(ctx, ctl, "10.77.0.11")
	if err != nil {
		return exited(fmt.Errorf("board a: %w", err))
	}
	st, err := ctl.wait(ctx, "10.77.0.12")
	if err != nil {
		return exited(fmt.Errorf("board b: %w", err))
	}
	if st.Guest != api.GuestNone && st.Guest != api.GuestMigrated {
		return fmt.Errorf("board b: has a guest of its own (%s): it cannot take one", st.Guest)
	}
	var dial *dialing
	if c.data {
		say("a client on the data segment (%s) connects to the guest's echo service at %s:7", clientDataAddr, guestDataIP)
		dial = startDial(ctx, dataAddr, running.Add(echoWithin))
	}
	why, err := waitSettled(ctx, a, c.settle, running)
	if err != nil {
		return exited(fmt.Errorf("board a: %w", err))
	}
	var cl *client
	if dial != nil {
		var note string
		if cl, note, err = dial.client(); err != nil {
			return exited(err)
		}
		if cl == nil {
			say("%s", note)
		} else {
			rctx, stop := context.WithCancel(ctx)
			defer stop()
			go cl.report(rctx)
		}
	}

	say("the guest is running on board a and %s: ferryctl migrate 10.77.0.11 10.77.0.12", why)
	report, err := ctl.migrate(ctx, "10.77.0.11", "10.77.0.12")
	for _, line := range strings.SplitAfter(report, "\n") {
		if line != "" {
			prefixed("[ferryctl]").Write([]byte(line))
		}
	}
	if err != nil {
		err = fmt.Errorf("the migration failed: %w", err)
		if st, serr := ctl.status(ctx, "10.77.0.11"); serr == nil {
			err = fmt.Errorf("%w; board a's guest is %s", err, st.Guest)
		}
		return exited(err)
	}
	moved := time.Now()
	before, err := ctl.status(ctx, "10.77.0.12")
	if err != nil {
		return exited(fmt.Errorf("board b after the migration: %w", err))
	}

	say("the guest runs on board b now; watching it for %v", c.after)
	nudge := time.NewTimer(c.after / 4)
	defer nudge.Stop()
	end := time.NewTimer(c.after)
	defer end.Stop()
	for done := false; !done; {
		select {
		case <-nudge.C:
			// A guest that waits for its console (a shell) shows it
			// is alive when Enter is pressed there.
			if c.enter && guestLines(b.Lines(), moved) == 0 {
				say("the guest has printed nothing on board b since the move: pressing Enter on its console")
				b.Send("\n")
			}
		case <-end.C:
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	if err := carriedOn(ctx, ctl, b, before, moved); err != nil {
		return exited(err)
	}
	if cl != nil {
		msg, err := cl.finish()
		if err != nil {
			return exited(err)
		}
		say("%s", msg)
	}
	return nil
}

// waitRunning asks addr until its guest is running and returns when it
// first saw it so.
func waitRunning(ctx context.Context, ctl ctl, addr string) (time.Time, error) {
	st, err := ctl.wait(ctx, addr)
	for ; err == nil; st, err = ctl.status(ctx, addr) {
		switch st.Guest {
		case api.GuestRunning:
			return time.Now(), nil
		case api.GuestStopped:
			return time.Time{}, fmt.Errorf("its guest stopped before it could be moved (see its console)")
		case api.GuestOff:
			return time.Time{}, fmt.Errorf("its guest powered itself off (%s) before it could be moved", st.GuestPower)
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
	return time.Time{}, err
}

// readyWithin is how long a -ready line may take to appear.
const readyWithin = 3 * time.Minute

// waitSettled waits until s says the guest on p may be moved, and says why.
func waitSettled(ctx context.Context, p *qemu.Process, s settle, running time.Time) (string, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if ok, why := s.ready(p.Lines(), running, time.Now()); ok {
			return why, nil
		}
		if s.Ready != nil && time.Since(running) > readyWithin {
			return "", fmt.Errorf("no console line matched -ready %q within %v of the guest running", s.Ready, readyWithin)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// carriedOn checks that the guest runs on board b -- its exit count grew
// since before -- and that board a gave it up, and says so.
func carriedOn(ctx context.Context, ctl ctl, b *qemu.Process, before api.Status, moved time.Time) error {
	after, err := ctl.status(ctx, "10.77.0.12")
	if err != nil {
		return fmt.Errorf("board b after the migration: %w", err)
	}
	if after.Guest != api.GuestRunning {
		return fmt.Errorf("board b: the guest is %s, not running, after the migration", after.Guest)
	}
	if after.Exits <= before.Exits {
		return fmt.Errorf("board b: the guest made no progress (exits %d, then %d)", before.Exits, after.Exits)
	}
	src, err := ctl.status(ctx, "10.77.0.11")
	if err != nil {
		return fmt.Errorf("board a after the migration: %w", err)
	}
	if src.Guest != api.GuestMigrated {
		return fmt.Errorf("board a: its guest is %s after the migration, want %s", src.Guest, api.GuestMigrated)
	}
	n := guestLines(b.Lines(), moved)
	console := fmt.Sprintf("%d console line(s) from the guest on board b since the move", n)
	if n == 0 {
		console = "the guest printed nothing on board b since the move (it may be a quiet one)"
	}
	say("done: board b runs the guest (%d exits to Ferry, then %d); %s; board a gave it up (%s) and may take it back",
		before.Exits, after.Exits, console, src.Guest)
	return nil
}

// guestLines counts the guest's console lines that arrived after t.
func guestLines(lines []qemu.Line, t time.Time) int {
	n := 0
	for _, l := range lines {
		if l.At.After(t) && guestLine(l.Text) {
			n++
		}
	}
	return n
}

// demoKeys are the demo's bundles and the role each must name.
var demoKeys = []struct{ name, role string }{{"a", pki.RoleBoard}, {"b", pki.RoleBoard}, {"ctl", pki.RoleOperator}}

// provision makes the demo's keys: a CA, boards a and b, and ctl. Keys
// already there are kept if they are still good (each a bundle of its
// role, valid for another day); others -- an older Ferry's without roles,
// expiring ones, broken ones -- are made again, and the demo says why.
func provision(dir string) error {
	err := usableKeys(dir)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("ferry-demo: new keys in %s: %v\n", dir, err)
	}
	_, err = pki.Provision(dir, "ferry-demo", "a=10.77.0.11", "b=10.77.0.12", "operator:ctl")
	return err
}

// usableKeys says why the keys in dir will not do, or nil.
func usableKeys(dir string) error {
	for _, k := range demoKeys {
		data, err := os.ReadFile(filepath.Join(dir, k.name+".pem"))
		if err != nil {
			return err
		}
		b, err := pki.LoadBundle(data)
		switch {
		case err != nil:
			return fmt.Errorf("%s.pem: %w", k.name, err)
		case b.Role != k.role:
			return fmt.Errorf("%s.pem names the role %q, the demo needs %q", k.name, b.Role, k.role)
		case time.Until(b.Cert.NotAfter) < 24*time.Hour:
			return fmt.Errorf("%s.pem expires at %v", k.name, b.Cert.NotAfter)
		}
	}
	return nil
}
