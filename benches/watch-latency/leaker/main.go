// leaker is a small Go service for benches/watch-latency: it serves net/http/pprof and expvar's
// /debug/vars on loopback, does steady request-like work the whole time, and after -leak-after
// starts leaking 1 MiB/s of heap from one function (leakyAppend), so the time from the start of
// the leak to `leakdiff watch`'s first alert can be measured.
//
// Steady work (never a leak):
//   - churn: -workers goroutines allocate and drop short-lived buffers (-churn bytes/s in all),
//   - cache: a map capped at 256 entries of 16 KiB, filled with random keys (evicting), so its
//     size plateaus at 4 MiB.
//
// The leak: 16 times a second, leakyAppend appends a fresh 64 KiB buffer to a global slice
// (1 MiB/s). At that moment the program prints `leak started at <unix seconds>` once.
// -leak=false disables it (the steady control). runtime.MemProfileRate is Go's default
// (512 KiB), on purpose.
//
// Usage: leaker -addr 127.0.0.1:0 -leak-after 60s -lifetime 10m [-leak=false]
// It prints `listening on HOST:PORT` on stdout once it serves.
package main

import (
	_ "expvar"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"time"
)

var (
	leaked [][]byte
	leakMu sync.Mutex

	cache   = map[int][]byte{}
	cacheMu sync.Mutex

	sink   []byte // keeps the churn buffers from being optimised away
	sinkMu sync.Mutex
)

const (
	leakChunk    = 64 << 10 // bytes per leak tick
	leakPerSec   = 16       // ticks per second: 1 MiB/s
	cacheEntries = 256
	cacheEntry   = 16 << 10
)

//go:noinline
func leakyAppend() {
	b := make([]byte, leakChunk)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	leakMu.Lock()
	leaked = append(leaked, b)
	leakMu.Unlock()
}

//go:noinline
func handleRequest(r *rand.Rand, size int) {
	// A request: a few buffers, touched, then dropped.
	parts := make([][]byte, 4)
	for i := range parts {
		parts[i] = make([]byte, size/4)
		for j := 0; j < len(parts[i]); j += 512 {
			parts[i][j] = byte(r.Intn(256))
		}
	}
	out := make([]byte, 0, size)
	for _, p := range parts {
		out = append(out, p[:len(p)/8]...)
	}
	sinkMu.Lock()
	sink = out
	sinkMu.Unlock()
}

//go:noinline
func cachePut(r *rand.Rand) {
	b := make([]byte, cacheEntry)
	b[0] = 1
	k := r.Intn(4 * cacheEntries)
	cacheMu.Lock()
	if _, ok := cache[k]; !ok && len(cache) >= cacheEntries {
		for old := range cache { // evict one (map order is random enough)
			delete(cache, old)
			break
		}
	}
	cache[k] = b
	cacheMu.Unlock()
}

func worker(id int, bytesPerSec int, cachePerSec int) {
	r := rand.New(rand.NewSource(int64(id) + 1))
	const reqPerSec = 50
	size := bytesPerSec / reqPerSec
	t := time.NewTicker(time.Second / reqPerSec)
	defer t.Stop()
	n := 0
	for range t.C {
		handleRequest(r, size)
		n++
		if cachePerSec > 0 && n%(reqPerSec/cachePerSec) == 0 {
			cachePut(r)
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	leak := flag.Bool("leak", true, "leak 1 MiB/s after -leak-after (false: the steady control)")
	leakAfter := flag.Duration("leak-after", 60*time.Second, "start leaking after this long")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long")
	churn := flag.Int("churn", 4<<20, "short-lived bytes allocated per second, all workers together")
	workers := flag.Int("workers", 4, "churn goroutines")
	cacheRate := flag.Int("cache-rate", 10, "cache insertions per second per worker (of 16 KiB)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(ln, nil)
	fmt.Printf("listening on %s\n", ln.Addr())

	for i := 0; i < *workers; i++ {
		go worker(i, *churn / *workers, *cacheRate)
	}

	if *leak {
		go func() {
			time.Sleep(*leakAfter)
			now := time.Now()
			fmt.Printf("leak started at %d.%09d\n", now.Unix(), now.Nanosecond())
			t := time.NewTicker(time.Second / leakPerSec)
			defer t.Stop()
			for range t.C {
				leakyAppend()
			}
		}()
	}

	time.Sleep(*lifetime)
}
