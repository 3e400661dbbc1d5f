// goroutinegen (Go 1.27 variant): a Go program that leaks goroutines the common ways (blocked on a
// channel receive, a channel send, a select with no ready case, a mutex, a WaitGroup that is never
// done, ...) and, with -mode control, runs the same amount of short-lived goroutines that all
// finish. It writes the goroutine profile in all three forms (debug=0 protobuf, debug=1 text,
// debug=2 text) after the first, (with -mid) the second and the third round.
//
// Differences from testdata/go/goroutinegen: go.mod declares go 1.27, so tracebacks print
// goroutine labels ({handler: upload}); some leaks are started inside pprof.Do with labels; more
// kinds of leak (nil channel, select{}, heap mutex, RWMutex, Cond, a channel held by a global);
// with -leakcheck the program writes the goroutineleak profile (debug=0/1/2) after the last round
// and then a plain goroutine debug=2 dump, in which the leaked goroutines are marked (leaked).
//
// Planted per leak round (n = 20):
//
//	reported by the goroutineleak profile (primitive reachable only from blocked goroutines):
//	  main.blockedReceiver  n    chan receive          fresh channel
//	  main.blockedSender    n    chan send             fresh channel
//	  main.stuckSelect      n    select                two fresh channels
//	  main.waitForever      n/2  sync.WaitGroup.Wait   WaitGroup local to leakRound
//	  main.nilReceiver      2    chan receive (nil chan)
//	  main.heapLocked       2    sync.Mutex.Lock       a heap mutex locked by nobody alive
//	  main.uploadReceiver   2    chan receive          labels {handler: upload}
//	  main.uploadIdle       1    select (no cases)     labels {handler: upload}
//	  main.itemsReader      2    sync.RWMutex.RLock    labels {method: GET, route: "/v1/items: get"}
//	  main.itemsCondWait    1    sync.Cond.Wait        labels {method: GET, route: "/v1/items: get"}
//	planted but NOT reported (the primitive is reachable from a global):
//	  main.lockedOut        n/2  sync.Mutex.Lock       global mu, held by main forever
//	  main.globalWorker     2    chan receive          global channel jobs, labels {handler: upload}
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var (
	mu   sync.Mutex
	jobs = make(chan int) // reachable from a global: its waiters are never reported
)

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

func nilReceiver() {
	var ch chan int
	<-ch
}

func heapLocked(m *sync.Mutex) {
	m.Lock()
	defer m.Unlock()
}

func uploadReceiver(ch chan []byte) { <-ch }

func uploadIdle() { select {} }

func globalWorker() {
	for range jobs {
	}
}

func itemsReader(rw *sync.RWMutex) {
	rw.RLock()
	defer rw.RUnlock()
}

func itemsCondWait(c *sync.Cond) {
	c.L.Lock()
	c.Wait()
	c.L.Unlock()
}

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
	for i := 0; i < 2; i++ {
		go nilReceiver()
		m := new(sync.Mutex)
		m.Lock() // never unlocked
		go heapLocked(m)
	}
	pprof.Do(context.Background(), pprof.Labels("handler", "upload"), func(context.Context) {
		go uploadReceiver(make(chan []byte))
		go uploadReceiver(make(chan []byte))
		go uploadIdle()
		go globalWorker()
		go globalWorker()
	})
	pprof.Do(context.Background(), pprof.Labels("route", "/v1/items: get", "method", "GET"), func(context.Context) {
		rw := new(sync.RWMutex)
		rw.Lock() // never unlocked
		go itemsReader(rw)
		go itemsReader(rw)
		go itemsCondWait(sync.NewCond(new(sync.Mutex)))
	})
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
	results := make(chan int, 5*n+1)
	for i := 0; i < 5*n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results <- work(i)
		}(i)
	}
	// The same labels as the leak mode, on goroutines that finish.
	pprof.Do(context.Background(), pprof.Labels("handler", "upload"), func(context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- work(1)
		}()
	})
	wg.Wait()
	close(results)
	for range results {
	}
}

func create(dir, name string) *os.File {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		panic(err)
	}
	return f
}

func settle() {
	// Let new goroutines reach their blocking point.
	time.Sleep(100 * time.Millisecond)
	runtime.Gosched()
}

func write(dir, name string) {
	settle()
	for _, debug := range []int{0, 1, 2} {
		ext := map[int]string{0: "pb.gz", 1: "debug1.txt", 2: "debug2.txt"}[debug]
		f := create(dir, fmt.Sprintf("%s.%s", name, ext))
		if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
			panic(err)
		}
		f.Close()
	}
}

// writeLeakCheck writes the goroutineleak profile in its three forms (each write runs a GC with
// goroutine leak detection first), then a plain goroutine debug=2 dump, where the goroutines that
// detection found are marked (leaked).
func writeLeakCheck(dir, mode string) {
	settle()
	for _, debug := range []int{0, 1, 2} {
		ext := map[int]string{0: "pb.gz", 1: "debug1.txt", 2: "debug2.txt"}[debug]
		f := create(dir, fmt.Sprintf("%s-goroutineleak.%s", mode, ext))
		if err := pprof.Lookup("goroutineleak").WriteTo(f, debug); err != nil {
			panic(err)
		}
		f.Close()
	}
	f := create(dir, mode+"-goroutines-after-leakcheck.debug2.txt")
	if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
		panic(err)
	}
	f.Close()
	fmt.Fprintf(os.Stderr, "%s: goroutineleak Count() = %d, goroutines = %d\n", mode,
		pprof.Lookup("goroutineleak").Count(), runtime.NumGoroutine())
}

func main() {
	mode := flag.String("mode", "leak", "leak or control")
	out := flag.String("out", ".", "output folder")
	mid := flag.Bool("mid", false, "also write a snapshot between the two rounds of the later one")
	wait := flag.Duration("wait", 0, "wait this long before the last snapshot (ages the first goroutines)")
	leakcheck := flag.Bool("leakcheck", false, "write no goroutine snapshots; after the 3 rounds, write the goroutineleak profile and a goroutine debug=2 dump after it")
	flag.Parse()
	mu.Lock() // held forever: lockedOut goroutines block
	round := leakRound
	if *mode == "control" {
		round = controlRound
	}
	snap := func(name string) {
		if !*leakcheck {
			write(*out, *mode+"-goroutines-"+name)
		}
	}
	round(20)
	snap("base")
	round(20)
	if *mid {
		snap("mid")
	}
	round(20)
	// Go records how long a goroutine has waited only when a GC finds it blocked.
	for end := time.Now().Add(*wait); time.Now().Before(end); time.Sleep(time.Second) {
		runtime.GC()
	}
	snap("later")
	if *leakcheck {
		writeLeakCheck(*out, *mode)
	}
	runtime.KeepAlive(jobs)
}
