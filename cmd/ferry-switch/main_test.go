// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/l2switch"
)

// The test binary doubles as ferry-switch when FERRY_SWITCH_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_SWITCH_MAIN") == "1" {
		os.Args = append([]string{"ferry-switch"}, strings.Fields(os.Getenv("FERRY_SWITCH_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(args string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FERRY_SWITCH_MAIN=1", "FERRY_SWITCH_ARGS="+args)
	return cmd
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7777", ":7777", "10.77.0.1:7777", "[::1]:7777", "127.0.0.2:7777"} {
		out, err := command("-listen " + addr).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("is not 127.0.0.1")) {
			t.Errorf("-listen %s: %v\n%s", addr, err, out)
		}
	}
}

func TestRunStatsAndExit(t *testing.T) {
	cmd := command("-listen 127.0.0.1:0")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		if m := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`).FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("no 'listening on' line")
	}
	go io.Copy(io.Discard, stderr)

	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	time.Sleep(100 * time.Millisecond) // both attached
	f := append(bytes.Repeat([]byte{0xff}, 6), 0x52, 0x54, 0x00, 0x77, 0x00, 0x11, 0x88, 0xb5, 'h', 'i')
	if err := l2switch.WriteFrame(a, f); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := l2switch.ReadFrame(b, nil, l2switch.MaxFrame); err != nil || !bytes.Equal(got, f) {
		t.Fatalf("forwarded frame %q, %v", got, err)
	}

	cmd.Process.Signal(syscall.SIGUSR1)
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	out := stdout.String()
	if strings.Count(out, "rx frames") != 2 || !strings.Contains(out, "52:54:00:77:00:11") {
		t.Errorf("want the stats table twice (SIGUSR1, exit), with the learned MAC:\n%s", out)
	}
}
