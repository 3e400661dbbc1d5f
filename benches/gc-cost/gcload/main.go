// Command gcload is a small stdlib-only Go service used by leakdiff's
// benches/gc-cost benchmark. It builds a large live heap of small pointerful
// objects, keeps a steady churn of short-lived garbage, and serves
// net/http/pprof so a collector can fetch /debug/pprof/heap (optionally with
// ?gc=1, which forces a full GC before the profile is written).
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// node is 96 bytes on 64-bit platforms (size class 96): three pointers that
// form a random graph (real marking work for the GC) plus a payload.
type node struct {
	next, left, right *node
	id                uint64
	payload           [64]byte
}

var (
	live  []*node          // every live object
	index map[uint64]*node // map index over every 8th object
	sink  [256][]byte      // ring of recently allocated garbage
	churned atomic.Int64
)

func build(liveMB int, rng *rand.Rand) {
	// Approximate bytes per object: 96 (object) + 8 (slice slot)
	// + ~3 (map share: every 8th object indexed at ~24 B/entry).
	const perObj = 96 + 8 + 3
	n := liveMB << 20 / perObj
	live = make([]*node, n)
	index = make(map[uint64]*node, n/8+1)
	for i := range live {
		nd := &node{id: uint64(i)}
		nd.payload[0] = byte(i)
		live[i] = nd
		if i%8 == 0 {
			index[uint64(i)] = nd
		}
	}
	for i, nd := range live {
		if i+1 < n {
			nd.next = live[i+1]
		}
		nd.left = live[rng.Intn(n)]
		nd.right = live[rng.Intn(n)]
	}
}

func churn(mbPerSec int) {
	const tick = 10 * time.Millisecond
	perTick := mbPerSec << 20 / int(time.Second/tick)
	const chunk = 1024
	t := time.NewTicker(tick)
	defer t.Stop()
	k := 0
	for range t.C {
		for done := 0; done < perTick; done += chunk {
			b := make([]byte, chunk)
			b[0] = byte(k)
			sink[k%len(sink)] = b
			k++
		}
		churned.Add(int64(perTick))
	}
}

func main() {
	liveMB := flag.Int("live", 400, "live heap to build, in MB")
	churnMB := flag.Int("churn", 20, "garbage churn rate, in MB/s")
	addr := flag.String("addr", "127.0.0.1:6060", "listen address for net/http/pprof")
	seed := flag.Int64("seed", 1, "random seed for the object graph")
	flag.Parse()

	ln := http.Server{Addr: *addr}
	start := time.Now()
	build(*liveMB, rand.New(rand.NewSource(*seed)))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	go churn(*churnMB)
	fmt.Fprintf(os.Stdout, "READY objects=%d heap_alloc_mb=%d gomaxprocs=%d go=%s build_s=%.1f pid=%d\n",
		len(live), ms.HeapAlloc>>20, runtime.GOMAXPROCS(0), runtime.Version(),
		time.Since(start).Seconds(), os.Getpid())
	log.Fatal(ln.ListenAndServe())
}
