// leakgen: a small Go service-like program with planted heap leaks, and a leak-free control with
// heavy allocation churn. It writes heap profiles (protobuf and the debug=1 text form) at two
// points so leakdiff can diff them. Regenerate with testdata/go/generate.sh.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
)

// ---- planted leaks ------------------------------------------------------------------------------

// sessionCache grows without bound: entries are added per request and never evicted.
var sessionCache = map[int][]byte{}

func cacheSession(id int) {
	sessionCache[id] = make([]byte, 16<<10)
}

// auditLog is a global slice that only ever grows.
var auditLog [][]byte

func appendAudit(i int) {
	auditLog = append(auditLog, []byte(strings.Repeat("a", 2048+i%7)))
}

// listeners are registered per request and never unregistered.
type listener struct {
	id  int
	buf []byte
}

var listeners []*listener

func registerListener(i int) {
	listeners = append(listeners, &listener{id: i, buf: make([]byte, 4096)})
}

// ---- churn that is not a leak -------------------------------------------------------------------

var sink []byte

//go:noinline
func handleRequest(i int) {
	// Temporary buffers freed right away.
	for j := 0; j < 8; j++ {
		b := make([]byte, 8<<10)
		b[0] = byte(i + j)
		sink = b
	}
	parseHeaders(i)
}

//go:noinline
func parseHeaders(i int) {
	parts := strings.Split(fmt.Sprintf("k%d=v;x=%d;y=z", i, i*3), ";")
	sink = []byte(parts[0])
}

// lru is a bounded cache: it fills, then evicts. Not a leak.
type lru struct {
	keys []int
	data map[int][]byte
	max  int
}

func (c *lru) put(k int) {
	if len(c.keys) >= c.max {
		old := c.keys[0]
		c.keys = c.keys[1:]
		delete(c.data, old)
	}
	c.keys = append(c.keys, k)
	c.data[k] = make([]byte, 32<<10)
}

var bounded = &lru{data: map[int][]byte{}, max: 64}

func serve(i int, leak bool) {
	handleRequest(i)
	bounded.put(i)
	if leak {
		cacheSession(i)
		if i%2 == 0 {
			appendAudit(i)
		}
		if i%3 == 0 {
			registerListener(i)
		}
	}
}

func writeProfiles(dir, name string) {
	runtime.GC()
	f, err := os.Create(filepath.Join(dir, name+".pb.gz"))
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		panic(err)
	}
	f.Close()
	t, err := os.Create(filepath.Join(dir, name+".heap.txt"))
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("heap").WriteTo(t, 1); err != nil {
		panic(err)
	}
	t.Close()
	if *allocs {
		a, err := os.Create(filepath.Join(dir, name+".allocs.pb.gz"))
		if err != nil {
			panic(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(a, 0); err != nil {
			panic(err)
		}
		a.Close()
	}
}

// allocs: also write the allocs profile (the same records, default sample type alloc_space).
var allocs = flag.Bool("allocs", false, "also write NAME.allocs.pb.gz")

func main() {
	mode := flag.String("mode", "leak", "leak or control")
	out := flag.String("out", ".", "output directory")
	base := flag.Int("base", 2000, "requests before the base snapshot")
	later := flag.Int("later", 6000, "requests before the later snapshot")
	rate := flag.Int("rate", 512*1024, "runtime.MemProfileRate")
	flag.Parse()
	runtime.MemProfileRate = *rate
	leak := *mode == "leak"
	for i := 0; i < *later; i++ {
		serve(i, leak)
		if i+1 == *base {
			writeProfiles(*out, *mode+"-base")
		}
	}
	writeProfiles(*out, *mode+"-later")
}
