package ha

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotor-ci/rotor/internal/store/pgtest"
)

// A replica that cannot reach PostgreSQL says so on /readyz (so a load
// balancer or Kubernetes stops sending it traffic) and is ready again once
// the database is back, without a restart.
func TestReplica_ReadyzFollowsTheDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts rotor serve; skipped with -short")
	}
	dsn := pgtest.DSN(t)
	bin := rotorBinary(t)
	u, err := url.Parse(dsn)
	must(t, err)
	p := newTCPProxy(t, u.Host)
	u.Host = p.addr
	s := newSite(t, u.String(), 1, time.Hour-time.Minute, time.Minute, -1)
	r := startReplica(t, bin, "r", s.config("r"), "--tick", "200ms")
	r.waitReady(t, 200, 20*time.Second)

	p.cut()
	why := r.waitReady(t, 503, 20*time.Second)
	if !strings.Contains(why, "store unreachable") {
		t.Errorf("/readyz while the database is unreachable says %q; want it to name the store", why)
	}
	p.restore()
	r.waitReady(t, 200, 30*time.Second)
	r.stop(t, 30*time.Second)
}

// tcpProxy forwards loopback connections to PostgreSQL until cut.
type tcpProxy struct {
	addr     string
	upstream string
	mu       sync.Mutex
	down     bool
	conns    []net.Conn
}

func newTCPProxy(t *testing.T, upstream string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &tcpProxy{addr: ln.Addr().String(), upstream: upstream}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *tcpProxy) serve(c net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// cut drops every open connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
