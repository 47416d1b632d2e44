// Command ferry-demo is `make run`: two QEMU boards running Ferry on a
// management link over loopback, a guest booted on the first, then moved to
// the second with ferryctl, both consoles interleaved on standard output
// (prefixed [a] and [b]).
//
//	go run ./cmd/ferry-demo [-kernel build/guest/Image] [-initrd ...] [-append ...] [-m 1G]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

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

func main() {
	base := qemu.Board{QEMU: "qemu-system-aarch64"}
	flag.StringVar(&base.CPU, "cpu", "max,pauth-impdef=on", "QEMU -cpu")
	flag.StringVar(&base.Memory, "m", "1G", "RAM of each board")
	flag.StringVar(&base.Image, "image", "build/ferry.elf", "Ferry image")
	kernel := flag.String("kernel", "build/guest/Image", "guest kernel")
	initrd := flag.String("initrd", "build/guest/initrd.cpio.gz", "guest initramfs")
	appendArgs := flag.String("append", "console=ttyAMA0 quiet guest.mode=migrate guest.pattern_mb=32", "guest command line")
	ferryctl := flag.String("ferryctl", "build/ferryctl", "ferryctl binary")
	keysDir := flag.String("keys", "build/keys", "where the demo's keys are kept")
	after := flag.Duration("after", 8*time.Second, "how long to watch the guest on the second board")
	flag.Parse()
	if err := run(base, *kernel, *initrd, *appendArgs, *ferryctl, *keysDir, *after); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-demo:", err)
		os.Exit(1)
	}
}

func run(base qemu.Board, kernel, initrd, appendArgs, ferryctl, keysDir string, after time.Duration) error {
	if err := provision(keysDir); err != nil {
		return err
	}
	sw := l2switch.New(l2switch.Config{Logf: func(string, ...any) {}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go sw.Serve(ln)
	defer sw.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	boards := map[string]*qemu.Process{}
	for i, name := range []string{"a", "b"} {
		b := base
		b.Switch, b.Name = ln.Addr().String(), name
		b.IP, b.MAC = fmt.Sprintf("10.77.0.%d/24", 11+i), fmt.Sprintf("52:54:00:77:00:%02x", 0x11+i)
		b.Keys = filepath.Join(keysDir, name+".pem")
		if name == "a" {
			b.Kernel, b.Initrd, b.Append = kernel, initrd, appendArgs
		}
		p, err := b.Start(ctx, prefixed("["+name+"]"))
		if err != nil {
			return err
		}
		defer p.Kill()
		boards[name] = p
	}
	say("board a (10.77.0.11) boots the guest; board b (10.77.0.12) waits for one")
	if _, _, err := boards["a"].Expect(regexp.MustCompile(`^FERRY-PATTERN-CHECK .* OK`), 0, 3*time.Minute); err != nil {
		return fmt.Errorf("board a: %w", err)
	}
	if _, _, err := boards["b"].Expect(regexp.MustCompile(`ferry: management network up`), 0, time.Minute); err != nil {
		return fmt.Errorf("board b: %w", err)
	}
	say("ferryctl migrate 10.77.0.11 10.77.0.12")
	cmd := exec.Command(ferryctl, "-switch", ln.Addr().String(), "-keys", filepath.Join(keysDir, "ctl.pem"), "-mtu", "65510",
		"migrate", "10.77.0.11", "10.77.0.12")
	cmd.Stderr = io.Discard // the progress bar
	report, err := cmd.Output()
	for _, line := range strings.SplitAfter(string(report), "\n") {
		if line != "" {
			prefixed("[ferryctl]").Write([]byte(line))
		}
	}
	if err != nil {
		return fmt.Errorf("ferryctl migrate: %w", err)
	}
	say("the guest runs on board b now; watching it for %v", after)
	time.Sleep(after)
	say("done: board b runs the guest; board a gave it up and may take it back")
	return nil
}

// provision makes the demo's keys once: a CA, boards a and b, and ctl.
func provision(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "ctl.pem")); err == nil {
		return nil
	}
	_, err := pki.Provision(dir, "ferry-demo", "a=10.77.0.11", "b=10.77.0.12", "ctl")
	return err
}
