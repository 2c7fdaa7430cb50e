package torture

import (
	"net"
	"os"
	"runtime"
	"testing"
)

func TestClientPID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	me := os.Getpid()
	if got := clientPID(srv.RemoteAddr().String(), []int{1 << 22, me}); got != me {
		t.Errorf("clientPID(%s) = %d, want %d (this process)", srv.RemoteAddr(), got, me)
	}
	if got := clientPID(srv.RemoteAddr().String(), []int{1 << 22}); got != 0 {
		t.Errorf("clientPID among other processes = %d, want 0", got)
	}
}
