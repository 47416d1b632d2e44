// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Line is one line of a board's console with the host time it arrived.
type Line struct {
	Text string
	At   time.Time
}

// Process is a running board whose console is read line by line.
type Process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time

	mu    sync.Mutex
	lines []Line
	more  chan struct{} // closed and replaced whenever a line arrives
	done  chan struct{} // closed when the console reaches EOF
	err   error         // QEMU's exit status, valid after done
	log   io.Writer
}

// Start starts the board (through StartChild: QEMU does not outlive this
// process). Its console lines are kept (see Lines, Expect) and, if log is
// not nil, copied there as they arrive.
func (b Board) Start(ctx context.Context, log io.Writer) (*Process, error) {
	args, err := b.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, b.QEMU, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, stdin: stdin, more: make(chan struct{}), done: make(chan struct{}), log: log}
	p.started = time.Now()
	if err := StartChild(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", b.QEMU, err)
	}
	go p.read(stdout)
	return p, nil
}

func (p *Process) read(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		l := Line{Text: strings.TrimRight(s.Text(), "\r"), At: time.Now()}
		if p.log != nil {
			fmt.Fprintln(p.log, l.Text)
		}
		p.mu.Lock()
		p.lines = append(p.lines, l)
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	close(p.done)
}

// Done is closed once QEMU has exited and its console is read to the end.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid is the QEMU process's ID (for its CPU time in /proc).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when QEMU was started.
func (p *Process) Started() time.Time { return p.started }

// Lines returns a copy of the console so far.
func (p *Process) Lines() []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Line(nil), p.lines...)
}

// Expect waits until a console line at index from or later matches re, and
// returns it with its index. It fails on timeout or when the board exits
// first.
func (p *Process) Expect(re *regexp.Regexp, from int, timeout time.Duration) (Line, int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for ; from < len(p.lines); from++ {
			if re.MatchString(p.lines[from].Text) {
				l := p.lines[from]
				p.mu.Unlock()
				return l, from, nil
			}
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.done:
			// Lines may have arrived with the exit: one last look.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if from < n {
				continue
			}
			return Line{}, from, fmt.Errorf("board exited (%v) before a line matching %q", p.ExitErr(), re)
		case <-deadline.C:
			return Line{}, from, fmt.Errorf("no line matching %q within %v", re, timeout)
		}
	}
}

// Send writes s to the board's console input.
func (p *Process) Send(s string) error {
	_, err := io.WriteString(p.stdin, s)
	return err
}

// Wait waits up to timeout for QEMU to exit by itself and returns its exit
// status.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.ExitErr()
	case <-time.After(timeout):
		return fmt.Errorf("board still running after %v", timeout)
	}
}

// ExitErr is QEMU's exit status once it has exited (nil for 0).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill stops QEMU and waits for it.
func (p *Process) Kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// Children: no process a launcher starts outlives it.
//
// Every child (QEMU, and whatever else a launcher runs: ferryctl, a switch)
// is started by StartChild, which
//
//   - asks the kernel to SIGKILL the child when its parent dies
//     (PR_SET_PDEATHSIG, SysProcAttr.Pdeathsig). That covers every way the
//     launcher can end, SIGKILL included. The kernel sends it when the
//     *thread* that forked the child exits, not the process, so every fork
//     is done by one goroutine locked to its OS thread that never returns:
//     that thread lives exactly as long as the process.
//   - records the child, so StopChildren (called by Exit and, after
//     KillOnSignal, on SIGINT, SIGTERM and SIGHUP) can stop it first with
//     SIGTERM -- QEMU then restores the terminal it shares -- and SIGKILL
//     what is still there after a grace period.

// stopGrace is how long StopChildren lets children exit on SIGTERM.
const stopGrace = 2 * time.Second

var children struct {
	mu       sync.Mutex
	procs    map[*os.Process]bool
	forks    chan fork
	once     sync.Once
	stopping atomic.Bool // a signal is being handled: it ends the process
}

type fork struct {
	cmd  *exec.Cmd
	done chan error
}

// forker starts every child, from one OS thread that lives as long as the
// process (see above).
func forker() {
	runtime.LockOSThread() // never unlocked: the goroutine never returns
	for f := range children.forks {
		err := f.cmd.Start()
		if err == nil {
			children.mu.Lock()
			children.procs[f.cmd.Process] = true
			children.mu.Unlock()
		}
		f.done <- err
	}
}

// StartChild starts cmd (like cmd.Start) as a child that cannot outlive
// this process: it is killed when the process ends, however it ends, and
// stopped by StopChildren. The caller waits for it as usual (cmd.Wait).
func StartChild(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setParentDeathSignal(cmd.SysProcAttr)
	children.once.Do(func() {
		children.procs = map[*os.Process]bool{}
		children.forks = make(chan fork)
		go forker()
	})
	pruneChildren()
	done := make(chan error, 1)
	children.forks <- fork{cmd, done}
	return <-done
}

// pruneChildren forgets the children that have been waited for.
func pruneChildren() {
	children.mu.Lock()
	defer children.mu.Unlock()
	for p := range children.procs {
		if p.Signal(syscall.Signal(0)) == os.ErrProcessDone {
			delete(children.procs, p)
		}
	}
}

// StopChildren sends SIGTERM to every child StartChild started that is
// still running, gives them grace to exit (their waiters reap them), then
// SIGKILLs the rest. It returns how many children it signalled.
func StopChildren(grace time.Duration) int {
	pruneChildren()
	children.mu.Lock()
	var live []*os.Process
	for p := range children.procs {
		if p.Signal(syscall.SIGTERM) == nil {
			live = append(live, p)
		}
	}
	children.mu.Unlock()
	deadline := time.Now().Add(grace)
	for _, p := range live {
		for p.Signal(syscall.Signal(0)) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		p.Kill()
	}
	pruneChildren()
	return len(live)
}

// KillOnSignal makes SIGINT, SIGTERM and SIGHUP stop every child
// (StopChildren) before the launcher dies of the signal, as it would
// without a handler. name prefixes the line it prints on standard error.
func KillOnSignal(name string) {
	c := make(chan os.Signal, 1)
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
	signal.Notify(c, sigs...)
	go func() {
		sig := (<-c).(syscall.Signal)
		children.stopping.Store(true)
		n := StopChildren(stopGrace)
		fmt.Fprintf(os.Stderr, "%s: %v: stopped %d child process(es)\n", name, sig, n)
		signal.Reset(sigs...)
		syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second) // the signal is on its way; should it be blocked:
		os.Exit(128 + int(sig))
	}()
}

// Stopping reports whether KillOnSignal is handling a signal: the
// launcher is about to end by it, and errors its children report now are
// the consequence, not news.
func Stopping() bool { return children.stopping.Load() }

// Exit stops every child and exits with code; while KillOnSignal handles a
// signal it leaves the ending to that, so the launcher dies of the signal.
func Exit(code int) {
	if Stopping() {
		select {}
	}
	StopChildren(stopGrace)
	os.Exit(code)
}
