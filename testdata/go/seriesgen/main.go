// seriesgen runs a workload with planted memory-growth patterns and writes a heap profile (and a
// goroutine profile) after every step, so that a folder of snapshots has a known truth.
//
//	leak mode:    main.leakLinear (+2 MiB a step), main.leakExponential (×1.4 a step),
//	              main.leakStepped (+8 MiB at steps 4 and 8), goroutines blocked forever in
//	              main.leakGoroutine (+5 a step), plus every decoy of control mode;
//	control mode: main.cacheSawtooth (+2 MiB a step, cleared every 4th), main.warmPlateau
//	              (+4 MiB for 3 steps, then flat), main.stableBuffer (8 MiB once) and
//	              main.churn (32 MiB of garbage a step).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

const chunk = 64 << 10

var (
	linear    [][]byte
	exponent  [][]byte
	stepped   [][]byte
	cache     = map[int][]byte{}
	plateau   [][]byte
	stable    []byte
	sink      []byte
	forever   = make(chan struct{})
	cacheNext int
)

//go:noinline
func leakLinear() {
	for i := 0; i < (2<<20)/chunk; i++ {
		linear = append(linear, make([]byte, chunk))
	}
}

//go:noinline
func leakExponential(step int) {
	target := float64(1 << 20)
	for i := 0; i < step; i++ {
		target *= 1.4
	}
	for len(exponent)*chunk < int(target) {
		exponent = append(exponent, make([]byte, chunk))
	}
}

//go:noinline
func leakStepped(step int) {
	if step == 4 || step == 8 {
		for i := 0; i < (8<<20)/chunk; i++ {
			stepped = append(stepped, make([]byte, chunk))
		}
	}
}

//go:noinline
func leakGoroutine() {
	<-forever
}

//go:noinline
func cacheSawtooth(step int) {
	if step%4 == 3 {
		cache = map[int][]byte{}
		return
	}
	for i := 0; i < (2<<20)/chunk; i++ {
		cache[cacheNext] = make([]byte, chunk)
		cacheNext++
	}
}

//go:noinline
func warmPlateau(step int) {
	if step < 3 {
		for i := 0; i < (4<<20)/chunk; i++ {
			plateau = append(plateau, make([]byte, chunk))
		}
	}
}

//go:noinline
func stableBuffer() {
	if stable == nil {
		stable = make([]byte, 8<<20)
	}
}

//go:noinline
func churn() {
	for i := 0; i < (32<<20)/chunk; i++ {
		sink = make([]byte, chunk)
	}
	sink = nil
}

func write(path string, name string) {
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
}

func main() {
	mode := flag.String("mode", "leak", "leak or control")
	n := flag.Int("n", 12, "snapshots")
	interval := flag.Duration("interval", 250*time.Millisecond, "time between snapshots")
	out := flag.String("out", ".", "output folder")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		panic(err)
	}
	for step := 0; step < *n; step++ {
		if *mode == "leak" {
			leakLinear()
			leakExponential(step)
			leakStepped(step)
			for i := 0; i < 5; i++ {
				go leakGoroutine()
			}
		}
		cacheSawtooth(step)
		warmPlateau(step)
		stableBuffer()
		churn()
		runtime.GC()
		write(filepath.Join(*out, fmt.Sprintf("heap-%03d.pb.gz", step+1)), "heap")
		write(filepath.Join(*out, fmt.Sprintf("goroutine-%03d.pb.gz", step+1)), "goroutine")
		time.Sleep(*interval)
	}
}
