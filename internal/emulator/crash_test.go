package emulator_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator"
)

// TestMain lets the test binary double as the crash test's child: with
// EMULATOR_CRASH_CHILD set, it saves a large state in a loop until killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("EMULATOR_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func crashChild(path string) {
	big := bytes.Repeat([]byte("x"), 4<<20)
	for i := 0; ; i++ {
		data := fmt.Appendf(nil, `{"round":%d,"pad":"%s"}`, i, big)
		if err := emulator.WriteFileAtomic(path, data); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
}

// crashOnce starts the child, lets it save for a while, and kills it.
func crashOnce(t *testing.T, path string, after time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EMULATOR_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child: %q", line)
	}
	time.Sleep(after)
	_ = cmd.Process.Kill() // SIGKILL: no chance to clean up
	_ = cmd.Wait()
}
