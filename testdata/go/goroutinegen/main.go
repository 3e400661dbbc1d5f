// goroutinegen: a Go program that leaks goroutines the common ways (blocked on a channel receive,
// a channel send, a select with no ready case, a mutex, a WaitGroup that is never done) and, with
// -mode control, runs the same amount of short-lived goroutines that all finish. It writes the
// goroutine profile in all three forms (debug=0 protobuf, debug=1 text, debug=2 text) after the
// first and after the third round. Regenerate with testdata/go/generate-goroutines.sh.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var mu sync.Mutex

func blockedReceiver(ch chan int) { <-ch }

func blockedSender(ch chan int) { ch <- 1 }

func stuckSelect(a, b chan int) {
	select {
	case <-a:
	case <-b:
	}
}

func lockedOut() {
	mu.Lock()
	defer mu.Unlock()
}

func waitForever(wg *sync.WaitGroup) { wg.Wait() }

func leakRound(n int) {
	var wg sync.WaitGroup
	wg.Add(1) // never Done
	for i := 0; i < n; i++ {
		go blockedReceiver(make(chan int))
		go blockedSender(make(chan int))
		go stuckSelect(make(chan int), make(chan int))
		if i%2 == 0 {
			go lockedOut()
			go waitForever(&wg)
		}
	}
}

func work(i int) int {
	s := 0
	for k := 0; k < 1000+i%7; k++ {
		s += k
	}
	return s
}

func controlRound(n int) {
	var wg sync.WaitGroup
	results := make(chan int, 5*n)
	for i := 0; i < 5*n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results <- work(i)
		}(i)
	}
	wg.Wait()
	close(results)
	for range results {
	}
}

func write(dir, name string) {
	// Let new goroutines reach their blocking point.
	time.Sleep(100 * time.Millisecond)
	runtime.Gosched()
	for debug, ext := range map[int]string{0: "pb.gz", 1: "debug1.txt", 2: "debug2.txt"} {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s.%s", name, ext)))
		if err != nil {
			panic(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
			panic(err)
		}
		f.Close()
	}
}

func main() {
	mode := flag.String("mode", "leak", "leak or control")
	out := flag.String("out", ".", "output folder")
	mid := flag.Bool("mid", false, "also write a snapshot between the two rounds of the later one")
	wait := flag.Duration("wait", 0, "wait this long before the last snapshot (ages the first goroutines)")
	flag.Parse()
	mu.Lock() // held forever: lockedOut goroutines block
	round := leakRound
	if *mode == "control" {
		round = controlRound
	}
	round(20)
	write(*out, *mode+"-goroutines-base")
	round(20)
	if *mid {
		write(*out, *mode+"-goroutines-mid")
	}
	round(20)
	// Go records how long a goroutine has waited only when a GC finds it blocked.
	for end := time.Now().Add(*wait); time.Now().Before(end); time.Sleep(time.Second) {
		runtime.GC()
	}
	write(*out, *mode+"-goroutines-later")
}
