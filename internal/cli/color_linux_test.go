package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal end of a new pseudo-terminal: a stream on
// which rotor believes a person is watching.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("SKIP: no pseudo-terminal to test colour on: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("SKIP: unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("SKIP: pseudo-terminal number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("SKIP: open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return slave
}

// Colour and symbols on a terminal only, and never with NO_COLOR.
func TestMarks_colourOnlyOnATerminalWithoutNoColor(t *testing.T) {
	tty := openPTY(t)
	t.Setenv("NO_COLOR", "")
	for _, c := range []struct {
		name    string
		err     any
		noColor string
		styled  bool
	}{
		{"terminal", tty, "", true},
		{"terminal, NO_COLOR=1", tty, "1", false},
		{"pipe", &strings.Builder{}, "", false},
		{"file", os.Stderr, "", isTTY(os.Stderr)}, // go test's stderr is rarely a terminal
	} {
		t.Setenv("NO_COLOR", c.noColor)
		w, _ := c.err.(interface{ Write([]byte) (int, error) })
		app := &App{IO: IO{Err: redacting{w}}}
		ok, failed := app.marks()
		hasStyle := strings.Contains(ok+failed, "\x1b[") || strings.Contains(ok+failed, "✓")
		if hasStyle != c.styled {
			t.Errorf("%s: marks %q %q, styled %v, want %v", c.name, ok, failed, hasStyle, c.styled)
		}
	}
}
