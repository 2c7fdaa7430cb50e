package ssm

// A private moto_server helper until internal/emulator/motoserver lands.

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

var moto struct {
	once     sync.Once
	endpoint string
	cmd      *exec.Cmd
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.cmd != nil && moto.cmd.Process != nil {
		_ = syscall.Kill(-moto.cmd.Process.Pid, syscall.SIGKILL)
		_ = moto.cmd.Wait()
	}
	os.Exit(code)
}

// startMoto returns the endpoint of a moto_server on a free loopback port,
// shared by the package's tests, or skips the test loudly.
func startMoto(t testing.TB) string {
	t.Helper()
	moto.once.Do(func() {
		bin, err := exec.LookPath("moto_server")
		if err != nil {
			moto.err = err
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			moto.err = err
			return
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			moto.err = err
			return
		}
		moto.cmd = cmd
		endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
		for range 300 {
			if resp, err := http.Get(endpoint + "/moto-api/"); err == nil {
				_ = resp.Body.Close()
				moto.endpoint = endpoint
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		moto.err = fmt.Errorf("moto_server did not answer on %s", endpoint)
	})
	if moto.err != nil {
		fmt.Fprintf(os.Stderr, "SKIP %s: moto_server unavailable: %v\n", t.Name(), moto.err)
		t.Skipf("moto_server unavailable (pip install 'moto[server]'): %v", moto.err)
	}
	return moto.endpoint
}
