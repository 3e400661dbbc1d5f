// pprofserver is a small Go service with planted leaks that serves net/http/pprof (and expvar's
// /debug/vars) on loopback, for
// leakdiff's collect, dashboard and export tests. It leaks, every -tick:
//   - heap: -leak-bytes in one retained []byte (leakyHandler),
//   - goroutines: one goroutine blocked forever on a channel receive (spawnStuck),
//   - file descriptors: one /dev/null opened and never closed (openAndForget),
//   - TCP connections: one loopback connection whose server side is never closed by the client,
//     so it sits in CLOSE_WAIT on the server side (dialAndForget),
// and keeps a bounded cache (fills to 64 entries, then evicts) as a decoy. It exits after
// -lifetime so a test that forgets it cannot leave it running.
//
// Usage: pprofserver -addr 127.0.0.1:0 -tick 200ms -lifetime 60s
// It prints `listening on HOST:PORT` on stdout once it serves.
package main

import (
	_ "expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
	"time"
)

var (
	retained [][]byte
	cache    = map[int][]byte{}
	mu       sync.Mutex
	stuck    = make(chan struct{})
	files    []*os.File
	conns    []net.Conn
)

//go:noinline
func leakyHandler(n int) {
	mu.Lock()
	retained = append(retained, make([]byte, n))
	mu.Unlock()
}

//go:noinline
func cacheFill(i int) {
	mu.Lock()
	cache[i%64] = make([]byte, 4096)
	mu.Unlock()
}

//go:noinline
func spawnStuck() {
	go func() { <-stuck }()
}

//go:noinline
func openAndForget() {
	if f, err := os.Open(os.DevNull); err == nil {
		files = append(files, f)
	}
}

// The listener accepts and holds connections; the client side is closed, so the server side
// stays in CLOSE_WAIT.
var sink net.Listener

//go:noinline
func dialAndForget() {
	c, err := net.Dial("tcp", sink.Addr().String())
	if err != nil {
		return
	}
	c.Close()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	tick := flag.Duration("tick", 200*time.Millisecond, "time between leaks")
	lifetime := flag.Duration("lifetime", 60*time.Second, "exit after this long")
	leakBytes := flag.Int("leak-bytes", 64<<10, "bytes leaked per tick")
	flag.Parse()
	runtime.MemProfileRate = 4096

	var err error
	sink, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go http.Serve(ln, nil)

	deadline := time.After(*lifetime)
	t := time.NewTicker(*tick)
	for i := 0; ; i++ {
		select {
		case <-deadline:
			return
		case <-t.C:
			leakyHandler(*leakBytes)
			cacheFill(i)
			spawnStuck()
			openAndForget()
			dialAndForget()
		}
	}
}
