// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package qemu

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The launcher under test is this test binary run again with
// FERRY_TEST_LAUNCHER set: TestHelperLauncher then starts a stand-in child
// through StartChild, prints "child <pid>" and waits to be signalled.
const launcherEnv = "FERRY_TEST_LAUNCHER"

// Children of the helper launcher, by FERRY_TEST_LAUNCHER.
var helperChildren = map[string][]string{
	// sleeps; SIGTERM ends it
	"sleep": {"sleep", "60"},
	// ignores SIGTERM: only SIGKILL ends it
	"stubborn": {"sh", "-c", `trap "" TERM; exec sleep 60`},
	// says when SIGTERM reaches it, then exits
	"graceful": {"sh", "-c", `trap 'echo term > "$FERRY_TEST_MARK"; exit 0' TERM; : > "$FERRY_TEST_MARK.ready"; while :; do sleep 0.05; done`},
}

func TestHelperLauncher(t *testing.T) {
	mode := os.Getenv(launcherEnv)
	if mode == "" {
		t.Skip("helper process of TestChildrenDieWithLauncher")
	}
	KillOnSignal("launcher")
	argv := helperChildren[strings.TrimSuffix(mode, "+exit")]
	cmd := exec.Command(argv[0], argv[1:]...)
	// Started from a goroutine whose thread then exits (a locked goroutine
	// that returns takes its thread with it): the child must survive
	// that, because StartChild forks from a thread of its own.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		started <- StartChild(cmd)
	}()
	if err := <-started; err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	go cmd.Wait()
	fmt.Printf("child %d\n", cmd.Process.Pid)
	if strings.HasSuffix(mode, "+exit") {
		time.Sleep(300 * time.Millisecond)
		os.Exit(0) // not Exit: only the parent-death signal can stop the child
	}
	time.Sleep(time.Minute)
	os.Exit(4)
}

// procState returns a process's state letter and start time from
// /proc/<pid>/stat ("" when there is no such process).
func procState(pid int) (state string, start uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	// pid (comm) state ppid ... ; comm may hold spaces: split after ')'
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	start, _ = strconv.ParseUint(f[19], 10, 64) // field 22, starttime
	return f[0], start
}

// alive reports whether the process pid, started at start, still runs (a
// zombie has ended; a new process with the same pid is another one).
func alive(pid int, start uint64) bool {
	s, st := procState(pid)
	return s != "" && s != "Z" && st == start
}

func startLauncher(t *testing.T, mode string, env ...string) (*exec.Cmd, int, uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLauncher$", "-test.v")
	cmd.Env = append(append(os.Environ(), launcherEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := bufio.NewScanner(out)
	for s.Scan() {
		var pid int
		if _, err := fmt.Sscanf(s.Text(), "child %d", &pid); err == nil {
			_, start := procState(pid)
			if !alive(pid, start) {
				t.Fatalf("child %d is not running after StartChild", pid)
			}
			t.Cleanup(func() {
				if alive(pid, start) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			go func() {
				for s.Scan() {
				}
			}()
			return cmd, pid, start
		}
	}
	t.Fatalf("launcher %s reported no child", mode)
	return nil, 0, 0
}

func waitGone(t *testing.T, pid int, start uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for alive(pid, start) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running %v after its launcher ended", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChildrenDieWithLauncher(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	for _, c := range []struct {
		name, mode string
		sig        syscall.Signal // 0: the launcher exits by itself
		status     string         // how the launcher must end
	}{
		{"SIGTERM", "sleep", syscall.SIGTERM, "signal: terminated"},
		{"SIGINT", "sleep", syscall.SIGINT, "signal: interrupt"},
		{"SIGHUP", "sleep", syscall.SIGHUP, "signal: hangup"},
		{"SIGTERM, child ignores SIGTERM", "stubborn", syscall.SIGTERM, "signal: terminated"},
		{"SIGKILL", "sleep", syscall.SIGKILL, "signal: killed"},
		{"SIGKILL, child ignores SIGTERM", "stubborn", syscall.SIGKILL, "signal: killed"},
		{"exit without stopping it", "stubborn+exit", 0, "<nil>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, pid, start := startLauncher(t, c.mode)
			// The thread that called StartChild has exited by now; the
			// child must not have gone with it.
			time.Sleep(200 * time.Millisecond)
			if !alive(pid, start) {
				t.Fatalf("child %d died before its launcher", pid)
			}
			if c.sig != 0 {
				l.Process.Signal(c.sig)
			}
			err := l.Wait()
			// A launcher started with the signal ignored (under nohup, say)
			// cannot die of it when it re-raises it: it exits 128+signal.
			got := fmt.Sprint(err)
			ignored := c.sig != 0 && got == fmt.Sprintf("exit status %d", 128+int(c.sig))
			if got != c.status && !ignored {
				t.Errorf("launcher ended with %q, want %q", got, c.status)
			}
			waitGone(t, pid, start, 3*time.Second)
		})
	}
}

// A launcher stopped by a signal stops its children with SIGTERM first, so
// QEMU can restore the terminal.
func TestSignalReachesChildFirst(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	mark := filepath.Join(t.TempDir(), "mark")
	l, pid, start := startLauncher(t, "graceful", "FERRY_TEST_MARK="+mark)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(mark + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never set its SIGTERM trap")
		}
	}
	l.Process.Signal(syscall.SIGTERM)
	l.Wait()
	waitGone(t, pid, start, 3*time.Second)
	if b, err := os.ReadFile(mark); err != nil || string(b) != "term\n" {
		t.Fatalf("the child did not get SIGTERM (mark: %q, %v)", b, err)
	}
}

func TestStopChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" TERM; exec sleep 60`)
	if err := StartChild(cmd); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	time.Sleep(100 * time.Millisecond) // let sh set its trap
	t0 := time.Now()
	if n := StopChildren(300 * time.Millisecond); n != 1 {
		t.Errorf("StopChildren signalled %d children, want 1", n)
	}
	select {
	case err := <-waited:
		if fmt.Sprint(err) != "signal: killed" || time.Since(t0) < 300*time.Millisecond {
			t.Errorf("child ended with %v after %v: want SIGKILL after the 300ms grace", err, time.Since(t0))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("child still running after StopChildren")
	}
	if n := StopChildren(time.Second); n != 0 {
		t.Errorf("a second StopChildren signalled %d children, want 0", n)
	}
}
