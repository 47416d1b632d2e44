package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
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

// Start starts the board. Its console lines are kept (see Lines, Expect)
// and, if log is not nil, copied there as they arrive.
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
	if err := cmd.Start(); err != nil {
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
